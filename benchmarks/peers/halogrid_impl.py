"""halogrid implementations of the workloads (the plug-in interface of benchmarks/systems.py).

Each algorithm is written once with ImageParams; the forward pipeline and the
forward+loss+gradients pipeline are compiled once per builder call (cached on disk).
"""

import halogrid as hg

VERSION = hg.__version__
UNSUPPORTED = {}

_TAPS5 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def _params(names, dims):
    return {n: hg.ImageParam(hg.Float(32), d, n) for n, d in zip(names, dims)}


def _sq_loss(out, target, extra=None):
    """L = sum((out - target)^2) (+ extra), a 0-D Func."""
    r = hg.RDom(target)
    at = tuple(r[i] for i in range(target.dimensions()))
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += (out[at] - target[at]) ** 2
    if extra is not None:
        total = hg.Func("total")
        total[()] = loss[()] + extra[()]
        return total
    return loss


def _compiled(fwd_outputs, loss, wrt, target):
    """Forward and forward+loss+gradients pipelines, both auto-scheduled for ``target``."""
    d = hg.propagate_adjoints(loss)
    grad = hg.Pipeline([loss] + [d[p] for p in wrt]).auto_schedule(target).compile(target)
    fwd = hg.Pipeline(fwd_outputs).auto_schedule(target).compile(target)
    return fwd, grad


def _unchanged(value):
    return value


def _shapes(inputs, names):
    return [()] + [inputs[n].shape for n in names]


def _builder(algorithm, grad_names, fwd_count=1, target="cpu"):
    """The benchmark builder of ``algorithm``. On "cpu" the loss comes back as a float;
    on "cuda" (device arrays in and out, ``peers/halogrid_cuda.py``) as the pipeline's
    0-D output, left on the device so that no call waits for a copy to the host."""
    scalar = float if target == "cpu" else _unchanged

    def build(example):
        p, fwd_outputs, loss = algorithm()
        fwd, grad = _compiled(fwd_outputs, loss, [p[n] for n in grad_names], target)

        def fwd_fn(inputs):
            args = {k: v for k, v in inputs.items() if k in fwd.input_names}
            shapes = [inputs["target"].shape] + ([(64,)] if fwd_count > 1 else [])
            return fwd(shapes=shapes, **args)

        def grad_fn(inputs):
            args = {k: v for k, v in inputs.items() if k in grad.input_names}
            loss_value, *grads = grad(shapes=_shapes(inputs, grad_names), **args)
            return scalar(loss_value), dict(zip(grad_names, grads))
        return fwd_fn, grad_fn
    return build


def w1():
    p = _params(["inp", "k", "target"], [2, 2, 2])
    x, y = hg.Var("x"), hg.Var("y")
    clamped = hg.BoundaryConditions.repeat_edge(p["inp"])
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    out = hg.Func("out")
    out[y, x] = hg.sum(clamped[y + r[0] - 1, x + r[1] - 1] * p["k"][r[0], r[1]])
    return p, [out], _sq_loss(out, p["target"])


def w3():
    p = _params(["inp", "target"], [2, 2])
    x, y = hg.Var("x"), hg.Var("y")
    clamped = hg.BoundaryConditions.repeat_edge(p["inp"])
    bx, out = hg.Func("bx"), hg.Func("out")
    bx[y, x] = sum(clamped[y, x + j - 2] * w for j, w in enumerate(_TAPS5))
    bx_edge = hg.Func("bx_edge")
    bx_edge[y, x] = bx[hg.clamp(y, 0, p["inp"].height() - 1), x]
    out[y, x] = sum(bx_edge[y + i - 2, x] * w for i, w in enumerate(_TAPS5))
    bx.compute_root()
    return p, [out], _sq_loss(out, p["target"])


def homography_sample(img, hom, y, x):
    """img sampled bilinearly at H3 @ (x, y, 1), zero outside: W5's value at (y, x)."""
    u, v, s = (hom[r, 0] * hg.f32(x) + hom[r, 1] * hg.f32(y) + hom[r, 2] for r in range(3))
    sx, sy = u / s, v / s
    x0, y0 = hg.floor(sx), hg.floor(sy)
    fx, fy = sx - x0, sy - y0
    xi, yi = hg.i32(x0), hg.i32(y0)
    h, w = img.height(), img.width()
    total = 0.0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = yi + dy, xi + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            val = img[hg.clamp(yy, 0, h - 1), hg.clamp(xx, 0, w - 1)]
            total = total + hg.select(inside, wy * wx * val, 0.0)
    return total


def w5():
    p = _params(["inp", "H3", "target"], [2, 2, 2])
    x, y = hg.Var("x"), hg.Var("y")
    out = hg.Func("out")
    out[y, x] = homography_sample(p["inp"], p["H3"], y, x)
    return p, [out], _sq_loss(out, p["target"])


def _lerp_index(t, n):
    i0 = hg.clamp(hg.floor(t), 0.0, float(n - 2))
    return hg.i32(i0), t - i0


def w6():
    p = _params(["inp", "lut", "target", "hist_target"], [2, 1, 2, 1])
    x, y = hg.Var("x"), hg.Var("y")
    img, lut = p["inp"], p["lut"]
    i0, a = _lerp_index(img[y, x] * 255.0, 256)
    out = hg.Func("out")
    out[y, x] = lut[i0] * (1.0 - a) + lut[i0 + 1] * a
    r = hg.RDom(p["target"])
    b0, f = _lerp_index(out[r[0], r[1]] * 63.0, 64)
    hist = hg.Func("hist")
    hist[hg.Var("b")] = 0.0
    hist[b0] += 1.0 - f
    hist[b0 + 1] += f
    npix = hg.f32(img.height() * img.width())
    rb = hg.RDom([(0, 64)])
    hloss = hg.Func("hloss")
    hloss[()] = 0.0
    hloss[()] += (hist[rb] / npix - p["hist_target"][rb]) ** 2
    return p, [out, hist], _sq_loss(out, p["target"], hloss)


def w2():
    p = _params(["inp", "k", "target"], [3, 4, 3])
    c, y, x = hg.Var("c"), hg.Var("y"), hg.Var("x")
    # Zero boundary as a Func that is 0 everywhere and overwritten with inp on inp's
    # domain: no clamped index, so the adjoint is a plain gather (constant_exterior's
    # adjoint splits into 27 boundary pieces and takes minutes to compile).
    padded = hg.Func("padded")
    padded[c, y, x] = 0.0
    ri = hg.RDom([(0, p["inp"].height()), (0, p["inp"].width())], name="ri")
    padded[c, ri[0], ri[1]] = p["inp"][c, ri[0], ri[1]]
    padded.compute_root()
    # an explicit update, as Halide's version is written: out keeps the [c, y, x] layout
    # (an inline hg.sum would store its values as [y, x, c], the order its free Vars
    # appear in)
    r = hg.RDom([(0, 16), (0, 3), (0, 3)], name="r")
    out = hg.Func("out")
    out[c, y, x] = 0.0
    out[c, y, x] += padded[r[0], y + r[1] - 1, x + r[2] - 1] * p["k"][c, r[0], r[1], r[2]]
    return p, [out], _sq_loss(out, p["target"])


def _corner(t, n, k):
    """Cell index and tent weight of corner k (an RVar or int in {0, 1}) of coordinate
    t on n cells: index clamp(floor(t) + k, 0, n-1), weight 1-frac or frac of the
    unclamped floor."""
    lo = hg.floor(t)
    frac = t - lo
    return hg.clamp(hg.i32(lo) + k, 0, n - 1), hg.select(k == 0, 1.0 - frac, frac)


def w7():
    p = _params(["inp", "target"], [2, 2])
    x, y, z, c = hg.Var("x"), hg.Var("y"), hg.Var("z"), hg.Var("c")
    img = p["inp"]
    gh, gw, gd = img.height() / 8, img.width() / 8, 16

    def trilinear(py, px, k):
        """Cell (cy, cx, cz) and weight of corner k (3-D RDom) for pixel (py, px)."""
        cy, wy = _corner(hg.f32(py) / 8.0, gh, k[0])
        cx, wx = _corner(hg.f32(px) / 8.0, gw, k[1])
        cz, wz = _corner(img[py, px] * 15.0, gd, k[2])
        return cy, cx, cz, wy * wx * wz

    # Splat: one scatter over pixels x 8 corners; channel c is (value, weight).
    rp = hg.RDom([(0, img.height()), (0, img.width()), (0, 2), (0, 2), (0, 2)], name="rp")
    cy, cx, cz, wt = trilinear(rp[0], rp[1], [rp[2], rp[3], rp[4]])
    grid = hg.Func("grid")
    grid[y, x, z, c] = 0.0
    grid[cy, cx, cz, c] += wt * hg.select(c == 0, img[rp[0], rp[1]], 1.0)
    # Blur along z, x, y with [1,4,6,4,1]/16. grid is 0 outside the cells the splat
    # writes, so reading past the grid gives the zero boundary without a condition.
    blurs = []
    src = grid
    for axis in (2, 1, 0):
        f = hg.Func("blur" + "yxz"[axis])
        at = [y, x, z]

        def tap(j, at=at, axis=axis, src=src):
            idx = list(at)
            idx[axis] = idx[axis] + (j - 2)
            return src[idx[0], idx[1], idx[2], c]
        f[y, x, z, c] = sum(tap(j) * w for j, w in enumerate(_TAPS5))
        f.compute_root()
        blurs.append(f)
        src = f
    blurred = src
    grid.compute_root()
    # Slice at the same 8 corners per pixel.
    rk = hg.RDom([(0, 2), (0, 2), (0, 2)], name="rk")
    cy, cx, cz, wt = trilinear(y, x, [rk[0], rk[1], rk[2]])
    sliced = hg.Func("sliced")
    sliced[y, x, c] = hg.sum(wt * blurred[cy, cx, cz, c])
    sliced.compute_root()
    out = hg.Func("out")
    out[y, x] = sliced[y, x, 0] / sliced[y, x, 1]
    return p, [out], _sq_loss(out, p["target"])


def w4():
    p = _params(["inp", "guide", "A", "target"], [3, 2, 5, 3])
    x, y, c, k = hg.Var("x"), hg.Var("y"), hg.Var("c"), hg.Var("k")
    img, guide, grid = p["inp"], p["guide"], p["A"]
    rk = hg.RDom([(0, 2), (0, 2), (0, 2)], name="rk")
    cy, wy = _corner((hg.f32(y) + 0.5) / 16.0 - 0.5, grid.dim_extent(0), rk[0])
    cx, wx = _corner((hg.f32(x) + 0.5) / 16.0 - 0.5, grid.dim_extent(1), rk[1])
    cz, wz = _corner(guide[y, x] * 8.0 - 0.5, grid.dim_extent(2), rk[2])
    # an explicit update rather than coeff = hg.sum(...): the inline reduction would be
    # a stored Func of its own that coeff copies (192 MB more at 4 MP, and its adjoint)
    coeff = hg.Func("coeff")
    coeff[y, x, c, k] = 0.0
    coeff[y, x, c, k] += wy * wx * wz * grid[cy, cx, cz, c, k]
    out = hg.Func("out")
    out[y, x, c] = (coeff[y, x, c, 0] * img[y, x, 0] + coeff[y, x, c, 1] * img[y, x, 1]
                    + coeff[y, x, c, 2] * img[y, x, 2] + coeff[y, x, c, 3])
    return p, [out], _sq_loss(out, p["target"])


# workload -> (algorithm, gradient names, number of forward outputs)
SPECS = {"W1": (w1, ("inp", "k"), 1), "W2": (w2, ("inp", "k"), 1), "W3": (w3, ("inp",), 1),
         "W4": (w4, ("A", "guide", "inp"), 1), "W5": (w5, ("H3", "inp"), 1),
         "W6": (w6, ("lut", "inp"), 2), "W7": (w7, ("inp",), 1)}
BUILDERS = {name: _builder(*spec) for name, spec in SPECS.items()}
