"""Halide algorithms of W1-W7 (definitions only; scheduling is the autoscheduler's).

Axis convention: Halide's dimension 0 is NumPy's LAST axis (``hl.Buffer(ndarray)``
reverses axes), so a NumPy (H, W) image is ``f[x, y]`` here, (H, W, 3) is ``f[c, x, y]``
and W4's grid A (GH, GW, 8, 3, 4) is ``A[k, c, z, gx, gy]``.
Each ``wN(p)`` takes a dict name -> ``hl.ImageParam`` (the workload's input names) and
returns the forward output Func, or ``(out, hist)`` for W6. Every call builds fresh
Funcs, so the forward and gradient pipelines can be scheduled independently.
The formulas are WORKLOADS.md's, term by term (tent weights use the unclamped floor,
cell indices are clamped; W5 samples zero outside; W7's grid is zero outside).
"""
import halide as hl

TAPS5 = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)


def make_vars(n):
    """n fresh pure Vars ax0.. (ax0 innermost = NumPy's last axis). Not named v<n>:
    Halide names anonymous Vars v<n>, and Li2018 schedules clash with such names."""
    return [hl.Var(f"ax{i}") for i in range(n)]


def _tent(coord, n):
    """[(index, weight)] x2 of linear interpolation at Expr ``coord`` on n cells;
    indices clamped to [0, n-1], weights (1 - frac, frac) of the unclamped floor."""
    lo = hl.floor(coord)
    frac = coord - lo
    ilo = hl.i32(lo)
    return [(hl.clamp(ilo, 0, n - 1), 1.0 - frac), (hl.clamp(ilo + 1, 0, n - 1), frac)]


def _lerp_index(t, n):
    """(i0, a): i0 = clamp(floor(t), 0, n-2) as Int(32), a = t - i0 (W6's rule)."""
    i0 = hl.clamp(hl.i32(hl.floor(t)), 0, n - 2)
    return i0, t - hl.f32(i0)


def w1(p):
    x, y = make_vars(2)
    inp, k = p["inp"], p["k"]
    clamped = hl.BoundaryConditions.repeat_edge(inp)
    r = hl.RDom([hl.Range(0, 3), hl.Range(0, 3)])
    out = hl.Func("w1_out")
    out[x, y] = hl.f32(0.0)
    out[x, y] += clamped[x + r.x - 1, y + r.y - 1] * k[r.x, r.y]
    return out


def w2(p):
    x, y, co = make_vars(3)
    inp, k = p["inp"], p["k"]
    zero = hl.BoundaryConditions.constant_exterior(inp, hl.f32(0.0))
    r = hl.RDom([hl.Range(0, 3), hl.Range(0, 3), hl.Range(0, inp.dim(2).extent())])
    out = hl.Func("w2_out")
    out[x, y, co] = hl.f32(0.0)
    out[x, y, co] += zero[x + r.x - 1, y + r.y - 1, r.z] * k[r.x, r.y, r.z, co]
    return out


def w3(p):
    x, y = make_vars(2)
    inp = p["inp"]
    w_last, h_last = inp.width() - 1, inp.height() - 1
    bx, out = hl.Func("w3_bx"), hl.Func("w3_out")
    bx[x, y] = sum(inp[hl.clamp(x + j - 2, 0, w_last), y] * TAPS5[j] for j in range(5))
    out[x, y] = sum(bx[x, hl.clamp(y + i - 2, 0, h_last)] * TAPS5[i] for i in range(5))
    return out


def w4(p):
    c, x, y = make_vars(3)
    k = hl.Var("k")
    inp, guide, grid = p["inp"], p["guide"], p["A"]
    gw, gh = grid.dim(3).extent(), grid.dim(4).extent()
    xs = _tent((hl.f32(x) + 0.5) / 16.0 - 0.5, gw)
    ys = _tent((hl.f32(y) + 0.5) / 16.0 - 0.5, gh)
    zs = _tent(guide[x, y] * 8.0 - 0.5, 8)
    coeff = hl.Func("w4_coeff")
    coeff[k, c, x, y] = sum(wx * wy * wz * grid[k, c, cz, cx, cy]
                            for cx, wx in xs for cy, wy in ys for cz, wz in zs)
    out = hl.Func("w4_out")
    out[c, x, y] = sum(coeff[j, c, x, y] * inp[j, x, y] for j in range(3)) + coeff[3, c, x, y]
    return out


def _zero_outside(img, xx, yy):
    """img[yy, xx] where inside the image, else 0. Indices are clamped before the load
    (and the select zeroes the result) so every access is bounded, as the
    autoscheduler requires; BoundaryConditions.constant_exterior is not enough for
    these data-dependent indices."""
    inside = (xx >= 0) & (xx < img.width()) & (yy >= 0) & (yy < img.height())
    value = img[hl.clamp(xx, 0, img.width() - 1), hl.clamp(yy, 0, img.height() - 1)]
    return hl.select(inside, value, hl.f32(0.0))


def w5(p):
    x, y = make_vars(2)
    inp, hom = p["inp"], p["H3"]  # hom[col, row] = H3[row][col]
    u, v, s = (hom[0, r] * hl.f32(x) + hom[1, r] * hl.f32(y) + hom[2, r] for r in range(3))
    sx, sy = u / s, v / s
    x0, y0 = hl.floor(sx), hl.floor(sy)
    fx, fy = sx - x0, sy - y0
    xi, yi = hl.i32(x0), hl.i32(y0)
    out = hl.Func("w5_out")
    out[x, y] = sum(wy * wx * _zero_outside(inp, xi + dx, yi + dy)
                    for dy, wy in ((0, 1.0 - fy), (1, fy))
                    for dx, wx in ((0, 1.0 - fx), (1, fx)))
    return out


def w6(p):
    x, y = make_vars(2)
    b = hl.Var("b")
    inp, lut = p["inp"], p["lut"]
    i0, a = _lerp_index(inp[x, y] * 255.0, 256)
    out = hl.Func("w6_out")
    out[x, y] = lut[i0] * (1.0 - a) + lut[i0 + 1] * a
    r = hl.RDom([hl.Range(0, inp.width()), hl.Range(0, inp.height())])
    b0, f = _lerp_index(out[r.x, r.y] * 63.0, 64)
    hist = hl.Func("w6_hist")
    hist[b] = hl.f32(0.0)
    hist[b0] += 1.0 - f
    hist[b0 + 1] += f
    return out, hist


def _w7_corners(p, x, y):
    """The 8 (gx, gy, gz, weight) trilinear corners of pixel (x, y) on W7's grid."""
    inp = p["inp"]
    gw, gh = inp.width() / 8, inp.height() / 8
    xs = _tent(hl.f32(x) / 8.0, gw)
    ys = _tent(hl.f32(y) / 8.0, gh)
    zs = _tent(inp[x, y] * 15.0, 16)
    return [(cx, cy, cz, wx * wy * wz) for cx, wx in xs for cy, wy in ys for cz, wz in zs]


def _blur5_zero(f, axis, name):
    """TAPS5 blur of 4-D Func ``f`` along ``axis``; ``f`` is zero outside the grid
    because its pure definition is 0 and the splat only writes clamped cells."""
    v = make_vars(4)
    out = hl.Func(name)
    out[v] = sum(f[[vi + (j - 2 if i == axis else 0) for i, vi in enumerate(v)]] * TAPS5[j]
                 for j in range(5))
    return out


def w7(p):
    x, y, gz, c = make_vars(4)
    inp = p["inp"]
    r = hl.RDom([hl.Range(0, inp.width()), hl.Range(0, inp.height())])
    grid = hl.Func("w7_grid")  # grid[gx, gy, gz, c]: c=0 sum w*value, c=1 sum w
    grid[x, y, gz, c] = hl.f32(0.0)
    value = hl.select(c == 0, inp[r.x, r.y], hl.f32(1.0))
    for cx, cy, cz, wt in _w7_corners(p, r.x, r.y):
        grid[cx, cy, cz, c] += wt * value
    blurred = grid
    for axis, name in ((2, "w7_blurz"), (0, "w7_blurx"), (1, "w7_blury")):
        blurred = _blur5_zero(blurred, axis, name)
    sliced = hl.Func("w7_slice")
    sliced[x, y, c] = sum(wt * blurred[cx, cy, cz, c] for cx, cy, cz, wt in _w7_corners(p, x, y))
    out = hl.Func("w7_out")
    out[x, y] = sliced[x, y, 0] / sliced[x, y, 1]
    return out


ALGORITHMS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}
