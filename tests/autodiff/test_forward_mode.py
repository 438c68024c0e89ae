"""Forward mode (hg.propagate_tangents): tangents against float64 central differences
and against reverse mode through the inner-product identity <u, J v> == <J^T u, v>,
for every row of the rules table, stencils over boundary conditions, updates and scans,
reductions (argmax tangents), data-dependent indexing, tuple Funcs and Params; tangents
are ordinary Funcs: scheduled, differentiated again (forward-over-reverse Hessian-vector
products, tangents of tangents, adjoints of tangents)."""

import numpy as np
import pytest

import halogrid as hg
from halogrid.autodiff import rules
from halogrid.ir import intrinsics, ops
from halogrid.ir.expr import ARITH, Binary, Call
from halogrid.ir.visit import collect
from helpers import F64

EPS = 1e-6


def _tangent_input(w):
    """An ImageParam/Param named 't_<w>' carrying w's tangent into a compiled pipeline."""
    if isinstance(w, hg.Param):
        return hg.Param(w.type, f"t_{w.name}", 0.0)
    return hg.ImageParam(w.type(), w.dimensions(), f"t_{w.name}")


class Jvp:
    """`out` and t[out] along tangents of `wrt` (bound per call as t_<name>), with the
    VJP d[w] of an output adjoint 'u' when `vjp`: one compiled pipeline for all checks."""

    def __init__(self, out, wrt, shape, vjp=True):
        self.wrt, self.shape = list(wrt), tuple(shape)
        self.t = hg.propagate_tangents({w: _tangent_input(w) for w in self.wrt})
        outputs = [out, self.t[out]]
        if vjp:
            d = hg.propagate_adjoints(out, hg.Buffer(np.zeros(self.shape), name="u")) \
                if self.shape else hg.propagate_adjoints(out)
            outputs += [d[w] for w in self.wrt]
        self.fn = hg.Pipeline(outputs).compile()
        self.vjp = vjp

    def __call__(self, inputs: dict, tangents: dict | None = None, u=None):
        """(out, t[out], [d[w]]) at `inputs` (by name) along `tangents` (by input name)."""
        kwargs = dict(inputs)
        for w in self.wrt:
            n = str(w.name)
            zero = 0.0 if np.ndim(inputs[n]) == 0 else np.zeros(np.shape(inputs[n]))
            kwargs[f"t_{n}"] = (tangents or {}).get(n, zero)
        shapes = [self.shape, self.shape]
        if self.vjp:
            shapes += [np.shape(inputs[str(w.name)]) for w in self.wrt]
            if self.shape:
                kwargs["u"] = np.zeros(self.shape) if u is None else u
        res = self.fn(shapes=shapes, **kwargs)
        return res[0], res[1], list(res[2:])


def _moved(inputs: dict, direction: dict, step: float) -> dict:
    return {n: (np.asarray(x) + step * direction[n] if n in direction else x)
            for n, x in inputs.items()}


def fd_tangent(jvp: Jvp, inputs: dict, direction: dict, eps: float = EPS) -> np.ndarray:
    """(out(x + eps v) - out(x - eps v)) / 2 eps, element-wise, in float64."""
    hi = jvp(_moved(inputs, direction, eps))[0]
    lo = jvp(_moved(inputs, direction, -eps))[0]
    return (np.asarray(hi, np.float64) - np.asarray(lo, np.float64)) / (2 * eps)


def random_direction(jvp: Jvp, inputs: dict, rng) -> dict:
    return {str(w.name): rng.standard_normal(np.shape(inputs[str(w.name)])) for w in jvp.wrt}


def check_tangent(jvp: Jvp, inputs: dict, rng, rtol=1e-6, atol=1e-8):
    """t[out] along a random direction equals central differences element-wise and,
    through the inner-product identity, the VJP of a random output adjoint."""
    v = random_direction(jvp, inputs, rng)
    _, tangent, _ = jvp(inputs, v)
    np.testing.assert_allclose(tangent, fd_tangent(jvp, inputs, v), rtol=rtol, atol=atol)
    if jvp.vjp:
        u = rng.standard_normal(jvp.shape) if jvp.shape else 1.0
        _, _, grads = jvp(inputs, u=u if jvp.shape else None)
        backward = sum(float(np.vdot(g, v[str(w.name)])) for g, w in zip(grads, jvp.wrt))
        assert np.vdot(u, tangent) == pytest.approx(backward, rel=1e-9, abs=1e-12)
    return tangent, v


# ---- every row of the rules table ------------------------------------------------------

N = 9
SIGNED = {"abs", "sin", "cos", "tan", "tanh", "exp", "atan2", "floor", "ceil", "round"}


def _binary_row(op):
    return lambda a, b, c: Binary(op, c, b)  # c signed, b positive: both sides of min/max


def _intrinsic_row(name):
    arity = intrinsics.TABLE[name].arity
    return lambda a, b, c: ops.call_intrinsic(name, *([c if name in SIGNED else a, b][:arity]))


def rule_rows() -> dict:
    """One expression of inputs (a, b > 0, c signed) per row of autodiff/rules.py: every
    float Binary op (float '%' is built from floor by ops.py and never reaches a Binary),
    every intrinsic of INTRINSIC_RULES, select (2- and n-ary), float casts."""
    rows = {f"binary {op}": _binary_row(op) for op in ARITH if op != "%"}
    rows.update({f"intrinsic {name}": _intrinsic_row(name) for name in rules.INTRINSIC_RULES})
    rows["select"] = lambda a, b, c: hg.select(c > 0, a * b, c * b)
    rows["select n-ary"] = lambda a, b, c: hg.select(c > 0.5, a, c > -0.5, b * c, c * c)
    rows["cast f64 -> f32 -> f64"] = lambda a, b, c: hg.f64(hg.f32(a * 4.0)) * b
    rows["clamp"] = lambda a, b, c: hg.clamp(c, -0.5, b - 0.5)
    return rows


ROWS = rule_rows()
NAMES = list(ROWS)


@pytest.fixture(scope="module")
def rules_jvp():
    a, b, c = (hg.ImageParam(F64, 1, n) for n in "abc")
    k, x = hg.Var("k"), hg.Var("x")
    cases = []
    for i, name in enumerate(NAMES):
        cases += [k == i, ROWS[name](a[x], b[x], c[x])]
    out = hg.Func("rules")
    out[k, x] = hg.select(*cases[:-2], cases[-1])
    return Jvp(out, [a, b, c], (len(NAMES), N))


def _rule_inputs(rng):
    return {"a": rng.uniform(0.5, 1.5, N), "b": rng.uniform(0.5, 1.5, N),
            "c": rng.uniform(-1, 1, N)}


def test_the_rows_cover_the_whole_rules_table():
    """A new row of INTRINSIC_RULES or a new Binary op is tested without editing here."""
    assert {n.split()[1] for n in NAMES if n.startswith("intrinsic")} == set(rules.INTRINSIC_RULES)
    a = hg.Var("a", F64)
    for op in ARITH:
        if op != "%":
            assert any(p is not None for p in rules.partials(Binary(op, a, a))), op


@pytest.mark.parametrize("name", NAMES)
def test_rule_tangent_matches_finite_differences_and_reverse_mode(rules_jvp, rng, name):
    inputs = _rule_inputs(rng)
    row = NAMES.index(name)
    v = random_direction(rules_jvp, inputs, rng)
    _, tangent, _ = rules_jvp(inputs, v)
    if not name.startswith("cast"):  # float32 rounding inside: its differences are noise
        np.testing.assert_allclose(tangent[row], fd_tangent(rules_jvp, inputs, v)[row],
                                   rtol=1e-6, atol=1e-8, err_msg=name)
    u = np.zeros((len(NAMES), N))
    u[row] = rng.standard_normal(N)
    _, _, grads = rules_jvp(inputs, u=u)
    backward = sum(float(np.vdot(g, v[n])) for g, n in zip(grads, "abc"))
    rel = 1e-6 if name.startswith("cast") else 1e-9  # each mode rounds to float32 apart
    assert float(np.vdot(u[row], tangent[row])) == pytest.approx(backward, rel=rel, abs=1e-12)


def test_cast_rule_passes_the_tangent_through_the_float32_rounding(rules_jvp, rng):
    inputs = _rule_inputs(rng)
    v = random_direction(rules_jvp, inputs, rng)
    _, tangent, _ = rules_jvp(inputs, v)
    a, b = inputs["a"], inputs["b"]
    expected = (v["a"] * 4.0).astype(np.float32).astype(np.float64) * b + \
        (a * 4.0).astype(np.float32).astype(np.float64) * v["b"]
    np.testing.assert_allclose(tangent[NAMES.index("cast f64 -> f32 -> f64")], expected,
                               rtol=1e-12)


# ---- stencils, boundary conditions, Params -------------------------------------------

SHAPE = (5, 7)


@pytest.fixture(scope="module")
def image_jvp():
    """All four boundary conditions, a Buffer kernel over an RDom update and a Param."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    gain = hg.Param(F64, "gain", 1.0)
    k = hg.Buffer(np.zeros((3, 3)), name="k")
    bcs = [hg.BoundaryConditions.repeat_edge(img), hg.BoundaryConditions.mirror_image(img),
           hg.BoundaryConditions.mirror_interior(img),
           hg.BoundaryConditions.constant_exterior(img, 0.5)]
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    conv = hg.Func("conv")
    conv[y, x] = hg.f64(0.0)
    conv[y, x] += bcs[0][y + r.y, x + r.x] * k[r.y + 1, r.x + 1]
    out = hg.Func("out")
    out[y, x] = hg.tanh(conv[y, x] * gain) + bcs[1][y - 2, x + 3] * bcs[2][y + 1, x - 4] + \
        hg.sin(bcs[3][y + 2, x - 1] * gain)
    return Jvp(out, [img, k, gain], SHAPE)


def _image_inputs(rng):
    return {"img": rng.standard_normal(SHAPE), "k": rng.standard_normal((3, 3)), "gain": 0.7}


def test_stencil_over_boundaries_with_a_kernel_and_a_param(image_jvp, rng):
    for _ in range(2):
        check_tangent(image_jvp, _image_inputs(rng), rng)


def test_tangent_is_linear_in_the_rebound_tangent_inputs(image_jvp, rng):
    inputs = _image_inputs(rng)
    v1, v2 = random_direction(image_jvp, inputs, rng), random_direction(image_jvp, inputs, rng)
    both = {n: v1[n] - 2.0 * v2[n] for n in v1}
    t1, t2, t12 = (image_jvp(inputs, v)[1] for v in (v1, v2, both))
    np.testing.assert_allclose(t12, t1 - 2.0 * t2, rtol=1e-10, atol=1e-12)


def test_array_and_number_seeds_equal_rebound_ones(rng):
    """Tangents given as arrays/numbers at propagate time (Buffers, constants) agree with
    the compiled pipeline whose tangents are ImageParams/Params bound per call."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    gain = hg.Param(F64, "gain", 1.0)
    bc = hg.BoundaryConditions.repeat_edge(img)
    out = hg.Func("out")
    out[y, x] = hg.exp(bc[y, x + 1] * gain) * bc[y - 1, x]
    data, v = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    t = hg.propagate_tangents({img: v, gain: 0.25})
    got = t[out].realize(list(SHAPE), img=data, gain=0.7)
    rebound = Jvp(out, [img, gain], SHAPE, vjp=False)
    _, expected, _ = rebound({"img": data, "gain": 0.7}, {"img": v, "gain": 0.25})
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    as_buffer = hg.propagate_tangents({img: hg.Buffer(v, name="vb"), gain: 0.25})[out]
    np.testing.assert_array_equal(as_buffer.realize(list(SHAPE), img=data, gain=0.7), got)
    pad = np.pad(data, 1, mode="edge")
    e, below = np.exp(pad[1:-1, 2:] * 0.7), pad[:-2, 1:-1]
    vpad = np.pad(v, 1, mode="edge")
    closed = e * (vpad[1:-1, 2:] * 0.7 + pad[1:-1, 2:] * 0.25) * below + e * vpad[:-2, 1:-1]
    np.testing.assert_allclose(got, closed, rtol=1e-12)


# ---- updates, scans, reductions ------------------------------------------------------

L = 6


@pytest.fixture(scope="module")
def update_jvp():
    """An accumulation (+=, linear: the plain tangent), a nonlinear scan and an overwrite
    of a value the scan read (they need f's value mid-update: the dual tangent)."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    acc = hg.Func("acc")
    acc[x] = a[x] * b[x]
    r = hg.RDom([(0, 3)], name="r")
    acc[x] += hg.BoundaryConditions.repeat_edge(a)[x + r.x] * 0.5
    scan = hg.Func("scan")
    scan[x] = acc[x]
    s = hg.RDom([(1, L - 1)], name="s")
    scan[s] = hg.tanh(scan[s - 1]) * b[s] + scan[s]
    scan[2] = scan[1] * scan[3]
    out = hg.Func("out")
    out[x] = scan[x] * acc[x]
    return Jvp(out, [a, b], (L,)), acc, scan


def _update_inputs(rng):
    return {"a": rng.uniform(-1, 1, L), "b": rng.uniform(-1, 1, L)}


def test_updates_scans_and_overwrites(update_jvp, rng):
    jvp, _, _ = update_jvp
    for _ in range(2):
        check_tangent(jvp, _update_inputs(rng), rng)


def test_linear_update_tangent_has_matching_updates(update_jvp):
    """acc's tangent follows acc's update (t_acc[x] += t_a[...] * 0.5), reading itself."""
    jvp, acc, scan = update_jvp
    t_acc = jvp.t[acc]
    assert len(t_acc.definitions) == len(acc.definitions)
    assert t_acc.definitions[1].args == acc.definitions[1].args
    assert t_acc.definitions[1].rdoms == acc.definitions[1].rdoms
    reads = {c.callee.name for c in collect(t_acc.definitions[1].values, Call)}
    assert "t_acc" in reads and "acc" not in reads
    dual = {c.callee for c in collect(jvp.t[scan].values(), Call)}
    assert [f.name for f in dual] == ["scan_dual"]
    assert len(next(iter(dual)).definitions) == len(scan.definitions)


W = 5


@pytest.fixture(scope="module")
def reduction_jvp():
    """hg.sum/maximum/minimum/product over a sliding window, and a max over an RDom
    update with a where-predicate."""
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    r = hg.RDom([(0, 3)], name="r")
    out = hg.Func("red")
    out[x] = hg.sum(a[x + r] ** 2) + 2.0 * hg.maximum(a[x + r]) - hg.minimum(a[x + r] * 3.0) + \
        hg.product(a[x + r])
    q = hg.RDom([(0, W + 2)], name="q")
    q.where(q.x != 1)
    top = hg.Func("top")
    top[x] = hg.f64(-10.0)
    top[x] = hg.max(top[x], a[q] * hg.f64(x + 1))
    both = hg.Func("both")
    both[x] = out[x] + top[x]
    return Jvp(both, [a], (W,))


def test_reductions_against_finite_differences(reduction_jvp, rng):
    check_tangent(reduction_jvp, {"a": rng.uniform(0.5, 1.5, W + 2)}, rng)


def test_max_and_min_tangents_are_the_tangents_at_the_argmax(reduction_jvp, rng):
    """Closed form in NumPy, including ties: the first maximal term carries the tangent."""
    a = rng.uniform(0.5, 1.5, W + 2)
    a[3] = a[4] = 2.0  # a tie in the windows at x = 2, 3 (maximum) and in top (argmax 3)
    v = rng.standard_normal(W + 2)
    _, got, _ = reduction_jvp({"a": a}, {"a": v})
    win = np.stack([a[i:i + W] for i in range(3)])
    vwin = np.stack([v[i:i + W] for i in range(3)])
    cols = np.arange(W)
    imax, imin = np.argmax(win, axis=0), np.argmin(win * 3.0, axis=0)
    prod_t = sum(vwin[j] * np.prod(np.delete(win, j, axis=0), axis=0) for j in range(3))
    keep = np.arange(W + 2) != 1
    itop = np.flatnonzero(keep)[np.argmax(a[keep])]
    expected = (2 * win * vwin).sum(0) + 2.0 * vwin[imax, cols] - 3.0 * vwin[imin, cols] + \
        prod_t + v[itop] * (cols + 1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---- data-dependent indexing and tuples ----------------------------------------------

def test_data_dependent_indices_have_no_tangent(rng):
    """out = lut[idx(img)] * img + f64(hist[x]) * w: the lut and img tangents flow, the
    index and the integer histogram carry none (no VJP: reverse mode refuses the
    histogram's computed-location update although it is integer)."""
    x = hg.Var("x")
    img, lut, w = (hg.ImageParam(F64, 1, n) for n in ("img", "lut", "w"))
    idx = hg.clamp(hg.i32(img[x] * 8.0), 0, 7)
    r = hg.RDom([(0, 8)], name="r")
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(hg.i32(img[r] * 8.0), 0, 7)] += 1
    out = hg.Func("out")
    out[x] = lut[idx] * img[x] + hg.f64(hist[x]) * w[x]
    jvp = Jvp(out, [img, lut, w], (8,), vjp=False)
    inputs = {"img": rng.uniform(0.01, 0.99, 8), "lut": rng.standard_normal(8),
              "w": rng.standard_normal(8)}
    inputs["img"][np.abs(inputs["img"] * 8 - np.round(inputs["img"] * 8)) < 1e-3] += 0.01
    tangent, v = check_tangent(jvp, inputs, rng)
    i = np.clip((inputs["img"] * 8).astype(int), 0, 7)
    hist_np = np.bincount(i, minlength=8)
    expected = v["lut"][i] * inputs["img"] + inputs["lut"][i] * v["img"] + hist_np * v["w"]
    np.testing.assert_allclose(tangent, expected, rtol=1e-12)
    assert hg.Int(32) == hist.type() and hist not in jvp.t


def test_tuple_funcs_have_tuple_tangents(rng):
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    pair = hg.Func("pair")
    pair[x] = (a[x] * b[x], hg.sin(a[x]))
    s = hg.RDom([(1, 4)], name="s")
    pair[s] = (pair[s - 1][0] * pair[s][1], pair[s][1] + pair[s - 1][0])
    t = hg.propagate_tangents({a: hg.ImageParam(F64, 1, "t_a"), b: hg.ImageParam(F64, 1, "t_b")})
    data = {"a": rng.uniform(-1, 1, 5), "b": rng.uniform(-1, 1, 5)}
    v = {"t_a": rng.standard_normal(5), "t_b": rng.standard_normal(5)}
    fn = hg.Pipeline([pair, t[pair]]).compile()
    (_, _), (t0, t1) = fn(shapes=[(5,), (5,)], **data, **v)
    hi = fn(shapes=[(5,), (5,)], a=data["a"] + EPS * v["t_a"], b=data["b"] + EPS * v["t_b"], **v)[0]
    lo = fn(shapes=[(5,), (5,)], a=data["a"] - EPS * v["t_a"], b=data["b"] - EPS * v["t_b"], **v)[0]
    for got, h, lw in zip((t0, t1), hi, lo):
        np.testing.assert_allclose(got, (h - lw) / (2 * EPS), rtol=1e-6, atol=1e-8)
    assert t[pair].outputs() == 2


def test_guarded_branches_keep_tangents_finite_and_equal_to_reverse_mode(rng):
    """The untaken branch of a select (sqrt'(0), 1/0) and atan2 at (0, 0) give finite
    tangents, by reverse mode's conventions (rules.chain): the VJP identity holds there."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    out = hg.Func("guarded")
    out[x] = hg.select(a[x] > 0, hg.sqrt(a[x]), 0.0) + hg.select(a[x] != 0, 1.0 / a[x], 0.0) + \
        hg.atan2(a[x], b[x]) * b[x]
    jvp = Jvp(out, [a, b], (4,))
    inputs = {"a": np.array([0.0, 0.0, 0.7, -0.3]), "b": np.array([0.0, 1.5, 0.0, 2.0])}
    v = {"a": rng.standard_normal(4), "b": rng.standard_normal(4)}
    _, tangent, _ = jvp(inputs, v)
    assert np.all(np.isfinite(tangent))
    av, bv = inputs["a"][2:], inputs["b"][2:]
    ta, tb = v["a"][2:], v["b"][2:]
    expected = np.where(av > 0, 0.5 / np.sqrt(np.abs(av)), 0) * ta - ta / av ** 2 + \
        (bv * ta - av * tb) / (av ** 2 + bv ** 2) * bv + np.arctan2(av, bv) * tb
    np.testing.assert_allclose(tangent[2:], expected, rtol=1e-12)
    np.testing.assert_allclose(tangent[:2], [0.0, v["a"][1]], rtol=1e-12, atol=1e-15)
    u = rng.standard_normal(4)
    _, _, grads = jvp(inputs, u=u)
    assert np.vdot(u, tangent) == pytest.approx(sum(np.vdot(g, v[n]) for g, n in zip(grads, "ab")),
                                                rel=1e-12)


# ---- tangents are ordinary Funcs -----------------------------------------------------

def _smooth_image_loss(img, k):
    y, x = hg.Var("y"), hg.Var("x")
    bc = hg.BoundaryConditions.repeat_edge(img)
    blur = hg.Func("blur")
    blur[y, x] = (bc[y, x + 1] + 2.0 * bc[y, x] + bc[y + 1, x - 1]) / 4.0
    r = hg.RDom([(0, SHAPE[0]), (0, SHAPE[1])], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += (r[0] + 1.0) * hg.tanh(k * blur[r[0], r[1]]) ** 2 + img[r[0], r[1]] ** 3 / 3.0
    return loss


def test_forward_over_reverse_hessian_vector_product(rng):
    """H v = t[d[img]] along v: central differences of the gradient along v, and the
    Hessian is symmetric: <w, H v> == <H w, v>."""
    img, v = hg.ImageParam(F64, 2, "img"), hg.ImageParam(F64, 2, "v")
    k = hg.Param(F64, "k", 1.5)
    g = hg.propagate_adjoints(_smooth_image_loss(img, k))[img]
    hv = hg.propagate_tangents({img: v})[g]
    fn = hg.Pipeline([g, hv]).compile()
    data, dv, dw = (rng.standard_normal(SHAPE) for _ in range(3))
    _, got = fn(shapes=[SHAPE, SHAPE], img=data, v=dv)
    g_hi, _ = fn(shapes=[SHAPE, SHAPE], img=data + EPS * dv, v=dv)
    g_lo, _ = fn(shapes=[SHAPE, SHAPE], img=data - EPS * dv, v=dv)
    np.testing.assert_allclose(got, (g_hi - g_lo) / (2 * EPS), rtol=1e-6, atol=1e-8)
    _, hw = fn(shapes=[SHAPE, SHAPE], img=data, v=dw)
    assert np.vdot(dw, got) == pytest.approx(np.vdot(hw, dv), rel=1e-10)


def test_tangent_of_a_tangent_and_adjoint_of_a_tangent(rng):
    """f = exp(sin(a) * a): the tangent of t[f] along the same v is f'' v^2, and the
    adjoint of sum(t[f] * w) is (f'' v w) element-wise (closed forms)."""
    x = hg.Var("x")
    a, v = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "v")
    w = hg.ImageParam(F64, 1, "w")
    f = hg.Func("f")
    f[x] = hg.exp(hg.sin(a[x]) * a[x])
    t1 = hg.propagate_tangents({a: v})[f]
    t2 = hg.propagate_tangents({a: v})[t1]
    r = hg.RDom([(0, 6)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += t1[r] * w[r]
    back = hg.propagate_adjoints(loss)[a]
    data, dv, dw = rng.uniform(-1, 1, 6), rng.standard_normal(6), rng.standard_normal(6)
    got2, got_back = hg.Pipeline([t2, back]).realize([[6], [6]], a=data, v=dv, w=dw)
    s = np.sin(data) * data
    ds, dds = np.cos(data) * data + np.sin(data), -np.sin(data) * data + 2 * np.cos(data)
    second = np.exp(s) * (ds ** 2 + dds)
    np.testing.assert_allclose(got2, second * dv ** 2, rtol=1e-12)
    np.testing.assert_allclose(got_back, second * dv * dw, rtol=1e-12)


def _scheduling_case():
    """A pure stage and a max reduction (its tangent a dual Func) over a boundary."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    bc = hg.BoundaryConditions.mirror_image(img)
    r = hg.RDom([(-1, 3)], name="r")
    mid = hg.Func("mid")
    mid[y, x] = hg.sqrt(bc[y, x - 1] ** 2 + 1.0) * bc[y + 1, x]
    out = hg.Func("out")
    out[y, x] = mid[y - 1, x] * mid[y, x + 2] + hg.maximum(bc[y, x + r] * mid[y, x])
    return img, mid, out


def test_scheduled_and_auto_scheduled_tangents_give_the_default_schedules_values(rng):
    y, x, xo, xi = hg.Var("y"), hg.Var("x"), hg.Var("xo"), hg.Var("xi")
    v, data = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    img, _, out = _scheduling_case()
    plain = hg.propagate_tangents({img: v})[out].realize(list(SHAPE), img=data)
    img, mid, out = _scheduling_case()
    t = hg.propagate_tangents({img: v})
    t[mid].compute_root().vectorize(x, 4)
    t[out].split(x, xo, xi, 2).parallel(y)
    np.testing.assert_allclose(t[out].realize(list(SHAPE), img=data), plain, rtol=1e-14)
    img, _, out = _scheduling_case()
    t = hg.propagate_tangents({img: v})
    auto = hg.Pipeline([out, t[out]]).auto_schedule()
    _, got = auto.realize([SHAPE, SHAPE], img=data)
    np.testing.assert_allclose(got, plain, rtol=1e-14)


# ---- what has no tangent, and the errors ---------------------------------------------

def test_funcs_independent_of_the_seeds_have_zero_tangents():
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    f = hg.Func("f")
    f[x] = hg.exp(b[x])
    t = hg.propagate_tangents({a: np.ones(4)})
    assert f not in t and a in t and b not in t
    assert t[f] is t[f] and t[a] is t[a]
    np.testing.assert_array_equal(t[f].realize([4]), np.zeros(4))
    np.testing.assert_array_equal(t[a].realize([4]), np.ones(4))


def test_seed_errors_name_the_input_and_the_fix():
    a = hg.ImageParam(F64, 2, "a")
    n = hg.ImageParam(hg.Int(32), 1, "n")
    buf = hg.Buffer(np.zeros((3, 4)), name="buf")
    p = hg.Param(F64, "p", 1.0)
    cases = [({n: np.zeros(3)}, "with respect to 'n': it has integer type"),
             ({a: np.zeros(3)},
              "along the tangent of 'a': the tangent has 1 dimension(s), the input 2"),
             ({buf: np.zeros((4, 3))}, "along the tangent of 'buf': the tangent has shape (4, 3)"),
             ({p: np.zeros(2)}, "along the tangent of 'p': a Param's tangent is a number"),
             ({p: hg.Param(hg.Float(32), "q")}, "the tangent Param has type"),
             ({hg.Func("g"): 1.0}, "only inputs (Buffer, ImageParam, Param) take tangents"),
             ({}, "propagate_tangents needs a dict")]
    for seeds, message in cases:
        with pytest.raises(hg.DifferentiationError) as info:
            hg.propagate_tangents(seeds)
        assert message in str(info.value) and str(info.value).startswith("Can't differentiate")
    x = hg.Var("x")
    count = hg.Func("count")
    count[x] = hg.i32(x)
    with pytest.raises(hg.DifferentiationError, match="'count': it has integer type"):
        hg.propagate_tangents({a: np.zeros((2, 2))})[count]
    stand_in = hg.Func("stand_in")  # an extern stage's definition only names its reads
    stand_in[x] = a[x, x]
    stand_in.kind = "extern"
    with pytest.raises(hg.DifferentiationError, match="extern stage 'stand_in' in forward mode"):
        hg.propagate_tangents({a: np.zeros((2, 2))})[stand_in]
