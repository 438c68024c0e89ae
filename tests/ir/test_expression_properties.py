"""Property: random small expression pipelines agree with a NumPy evaluation of the same
expression tree.

Trees are nested tuples. `build` turns one into halogrid Funcs; `ref` evaluates it with
NumPy on integer coordinate grids, so an intermediate Func read at an offset (whose
region bounds inference must grow) is just the child evaluated at shifted coordinates.
Image reads go through repeat_edge, which `ref` mirrors with np.clip on the indices.
Float trees stay within about [-2, 2] by construction (no log of negatives, no
overflow); integer trees stay far from int32 overflow and divide only by positives.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import halogrid as hg

OFFSETS = st.integers(-2, 2)
SHAPES = st.tuples(st.integers(1, 12), st.integers(1, 12))
SEEDS = st.integers(0, 2**32 - 1)

# ---- float trees ----------------------------------------------------------------------

F32 = np.float32
FLOAT_UNARY = {
    "neg": (lambda e: -e, lambda v: -v),
    "abs": (hg.abs, np.abs),
    "sin": (hg.sin, np.sin),
    "cos": (hg.cos, np.cos),
    "tanh": (hg.tanh, np.tanh),
    "sqrt_abs": (lambda e: hg.sqrt(hg.abs(e)), lambda v: np.sqrt(np.abs(v))),
    "exp_scaled": (lambda e: hg.exp(e) * 0.25, lambda v: np.exp(v) * F32(0.25)),
    "half": (lambda e: e * 0.5, lambda v: v * F32(0.5)),
    "clamp": (lambda e: hg.clamp(e, -0.5, 0.5), lambda v: np.clip(v, F32(-0.5), F32(0.5))),
}
FLOAT_BINARY = {
    "avg": (lambda a, b: (a + b) * 0.5, lambda a, b: (a + b) * F32(0.5)),
    "halfdiff": (lambda a, b: (a - b) * 0.5, lambda a, b: (a - b) * F32(0.5)),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "min": (hg.min, np.minimum),
    "max": (hg.max, np.maximum),
}

float_leaves = st.one_of(
    st.tuples(st.just("img"), st.sampled_from("ab"), OFFSETS, OFFSETS),
    st.tuples(st.just("const"), st.sampled_from([-0.75, -0.5, 0.25, 0.5, 1.0])),
    st.tuples(st.just("coord"), st.sampled_from("yx")),
)


def _float_extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(sorted(FLOAT_UNARY)), children),
        st.tuples(st.sampled_from(sorted(FLOAT_BINARY)), children, children),
        st.tuples(st.just("select"), children, children, children, children),
        st.tuples(st.just("func"), children, OFFSETS, OFFSETS, st.booleans()),
    )


float_trees = st.recursive(float_leaves, _float_extend, max_leaves=8)

# ---- integer trees --------------------------------------------------------------------

INT_BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "min": (hg.min, np.minimum),
    "max": (hg.max, np.maximum),
    "mul_mod": (lambda a, b: a * (b % 7), lambda a, b: a * np.mod(b, 7)),
    "div_data": (lambda a, b: a / (b % 4 + 1), lambda a, b: np.floor_divide(a, np.mod(b, 4) + 1)),
    "mod_data": (lambda a, b: a % (b % 4 + 1), lambda a, b: np.mod(a, np.mod(b, 4) + 1)),
}

int_leaves = st.one_of(
    st.tuples(st.just("img"), st.sampled_from("cd"), OFFSETS, OFFSETS),
    st.tuples(st.just("const"), st.sampled_from([-3, -1, 0, 2, 5, 7])),
    st.tuples(st.just("coord"), st.sampled_from("yx")),
)


def _int_extend(children):
    return st.one_of(
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("div"), st.sampled_from([1, 2, 3, 5]), children),
        st.tuples(st.just("floordiv"), st.sampled_from([2, 4]), children),
        st.tuples(st.just("mod"), st.sampled_from([2, 3, 5]), children),
        st.tuples(st.just("clamp"), children),
        st.tuples(st.sampled_from(sorted(INT_BINARY)), children, children),
        st.tuples(st.sampled_from(["select_lt", "select_eq"]), children, children, children,
                  children),
        st.tuples(st.just("func"), children, OFFSETS, OFFSETS, st.booleans()),
    )


int_trees = st.recursive(int_leaves, _int_extend, max_leaves=8)

# ---- one builder and one reference for both -------------------------------------------


class Builder:
    """Tree -> halogrid Expr over (y, x), creating Funcs for 'func' nodes."""

    def __init__(self, images, is_float):
        self.y, self.x = hg.Var("y"), hg.Var("x")
        self.images = images          # name -> repeat_edge Func
        self.is_float = is_float
        self.used = set()
        self.count = 0

    def __call__(self, t):
        y, x, op = self.y, self.x, t[0]
        if op == "img":
            self.used.add(t[1])
            return self.images[t[1]][y + t[2], x + t[3]]
        if op == "const":
            return hg.f32(t[1]) if self.is_float else hg.i32(t[1])
        if op == "coord":
            v = y if t[1] == "y" else x
            return hg.f32(v) * 0.0625 if self.is_float else v
        if op == "func":
            g = hg.Func(f"g{self.count}")
            self.count += 1
            g[y, x] = self(t[1])
            if t[4]:
                g.compute_root()
            return g[y + t[2], x + t[3]]
        if op in ("select", "select_lt"):
            return hg.select(self(t[1]) < self(t[2]), self(t[3]), self(t[4]))
        if op == "select_eq":
            return hg.select(self(t[1]) == self(t[2]), self(t[3]), self(t[4]))
        if op == "neg":
            return -self(t[1])
        if op == "div":
            return self(t[2]) / t[1]
        if op == "floordiv":
            return self(t[2]) // t[1]
        if op == "mod":
            return self(t[2]) % t[1]
        if op == "clamp" and not self.is_float:
            return hg.clamp(self(t[1]), -10, 10)
        if self.is_float and op in FLOAT_UNARY:
            return FLOAT_UNARY[op][0](self(t[1]))
        table = FLOAT_BINARY if self.is_float else INT_BINARY
        return table[op][0](self(t[1]), self(t[2]))


def ref(t, Y, X, arrays, is_float):
    """NumPy value of tree t at integer coordinate grids (Y, X)."""
    op = t[0]
    if op == "img":
        a = arrays[t[1]]
        h, w = a.shape
        return a[np.clip(Y + t[2], 0, h - 1), np.clip(X + t[3], 0, w - 1)]
    if op == "const":
        dtype = np.float32 if is_float else np.int32
        return np.full(np.broadcast(Y, X).shape, t[1], dtype=dtype)
    if op == "coord":
        v = np.broadcast_to(Y if t[1] == "y" else X, np.broadcast(Y, X).shape)
        return v.astype(np.float32) * F32(0.0625) if is_float else v.astype(np.int32)
    if op == "func":
        return ref(t[1], Y + t[2], X + t[3], arrays, is_float)
    if op in ("select", "select_lt", "select_eq"):
        a, b = ref(t[1], Y, X, arrays, is_float), ref(t[2], Y, X, arrays, is_float)
        cond = a == b if op == "select_eq" else a < b
        return np.where(cond, ref(t[3], Y, X, arrays, is_float), ref(t[4], Y, X, arrays, is_float))
    if op in ("div", "floordiv", "mod"):
        v = ref(t[2], Y, X, arrays, is_float)
        return np.mod(v, t[1]) if op == "mod" else np.floor_divide(v, t[1])
    if op == "neg":
        return -ref(t[1], Y, X, arrays, is_float)
    if op == "clamp" and not is_float:
        return np.clip(ref(t[1], Y, X, arrays, is_float), -10, 10).astype(np.int32)
    if is_float and op in FLOAT_UNARY:
        return FLOAT_UNARY[op][1](ref(t[1], Y, X, arrays, is_float))
    table = FLOAT_BINARY if is_float else INT_BINARY
    return table[op][1](ref(t[1], Y, X, arrays, is_float), ref(t[2], Y, X, arrays, is_float))


def _run(tree, arrays, shape, type_, is_float):
    params = {name: hg.ImageParam(type_, 2, name) for name in arrays}
    images = {name: hg.BoundaryConditions.repeat_edge(p) for name, p in params.items()}
    build = Builder(images, is_float)
    out = hg.Func("prop_out")
    out[build.y, build.x] = build(tree)
    fn = hg.Pipeline([out]).compile(target="cpu")
    inputs = {name: arrays[name] for name in build.used}
    got = fn(**inputs, shapes=[shape])
    Y, X = np.indices(shape)
    return got, ref(tree, Y, X, arrays, is_float)


@settings(max_examples=15, deadline=None)
@given(tree=float_trees, shape=SHAPES, seed=SEEDS)
def test_random_float_expression_pipelines_match_numpy(tree, shape, seed):
    rng = np.random.default_rng(seed)
    arrays = {n: rng.random((rng.integers(1, 13), rng.integers(1, 13)), dtype=np.float32)
              for n in "ab"}
    got, want = _run(tree, arrays, shape, hg.Float(32), True)
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=repr(tree))


@settings(max_examples=15, deadline=None)
@given(tree=int_trees, shape=SHAPES, seed=SEEDS)
def test_random_integer_expression_pipelines_match_numpy_exactly(tree, shape, seed):
    rng = np.random.default_rng(seed)
    arrays = {n: rng.integers(-20, 21, size=(rng.integers(1, 13), rng.integers(1, 13)),
                              dtype=np.int32) for n in "cd"}
    got, want = _run(tree, arrays, shape, hg.Int(32), False)
    assert got.shape == shape and got.dtype == np.int32
    np.testing.assert_array_equal(got, want, err_msg=repr(tree))
