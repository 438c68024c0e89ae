"""Local derivative rules, one row of autodiff/rules.py at a time.

One compiled pipeline serves every rule: loss = sum_x sum_k W[k, x] * term_k(a, b, c),
so a one-hot W row isolates rule k (its d[a], d[b], d[c] are exactly that rule's
partials, checked against closed forms in NumPy), and a random W checks them all
against float64 finite differences at once.
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads

N = 7


def _lerp_t(c):
    return c * 0.25 + 0.5


# name: (builder(a, b, c) -> Expr, {input: derivative(a, b, c) -> ndarray}, fd_ok)
# a, b lie in [0.5, 1.5], c in [-2, 2] (signed, for abs/min/max/select/clamp/tanh).
TERMS = {
    "add": (lambda a, b, c: a + b, {"a": lambda a, b, c: 1 + 0 * a, "b": lambda a, b, c: 1 + 0 * a}),
    "sub": (lambda a, b, c: a - b, {"a": lambda a, b, c: 1 + 0 * a, "b": lambda a, b, c: -1 + 0 * a}),
    "mul": (lambda a, b, c: a * b, {"a": lambda a, b, c: b, "b": lambda a, b, c: a}),
    "div": (lambda a, b, c: a / b, {"a": lambda a, b, c: 1 / b, "b": lambda a, b, c: -a / b**2}),
    "neg": (lambda a, b, c: -c, {"c": lambda a, b, c: -1 + 0 * c}),
    "const_arith": (lambda a, b, c: 3.0 * a - a / 2.0 + 1.0,
                    {"a": lambda a, b, c: 2.5 + 0 * a}),
    "pow": (lambda a, b, c: hg.pow(a, b),
            {"a": lambda a, b, c: b * a ** (b - 1), "b": lambda a, b, c: a**b * np.log(a)}),
    "pow_operator": (lambda a, b, c: a ** 3.0, {"a": lambda a, b, c: 3 * a**2}),
    "exp": (lambda a, b, c: hg.exp(c), {"c": lambda a, b, c: np.exp(c)}),
    "log": (lambda a, b, c: hg.log(a), {"a": lambda a, b, c: 1 / a}),
    "sqrt": (lambda a, b, c: hg.sqrt(a), {"a": lambda a, b, c: 0.5 / np.sqrt(a)}),
    "sin": (lambda a, b, c: hg.sin(c), {"c": lambda a, b, c: np.cos(c)}),
    "cos": (lambda a, b, c: hg.cos(c), {"c": lambda a, b, c: -np.sin(c)}),
    "tan": (lambda a, b, c: hg.tan(c * 0.5), {"c": lambda a, b, c: 0.5 / np.cos(c * 0.5) ** 2}),
    "tanh": (lambda a, b, c: hg.tanh(c), {"c": lambda a, b, c: 1 - np.tanh(c) ** 2}),
    "atan2": (lambda a, b, c: hg.atan2(c, a),
              {"c": lambda a, b, c: a / (a**2 + c**2), "a": lambda a, b, c: -c / (a**2 + c**2)}),
    "min": (lambda a, b, c: hg.min(a, c),
            {"a": lambda a, b, c: (a < c) * 1.0, "c": lambda a, b, c: (c < a) * 1.0}),
    "max": (lambda a, b, c: hg.max(a, c),
            {"a": lambda a, b, c: (a > c) * 1.0, "c": lambda a, b, c: (c > a) * 1.0}),
    "abs": (lambda a, b, c: hg.abs(c), {"c": lambda a, b, c: np.sign(c)}),
    "select": (lambda a, b, c: hg.select(c > 0, a * a, b * 3.0),
               {"a": lambda a, b, c: (c > 0) * 2 * a, "b": lambda a, b, c: (c <= 0) * 3.0}),
    "select_nary": (lambda a, b, c: hg.select(c > 1, a, c > -1, b * c, c * c),
                    {"a": lambda a, b, c: (c > 1) * 1.0,
                     "b": lambda a, b, c: ((c <= 1) & (c > -1)) * c,
                     "c": lambda a, b, c: np.where(c > 1, 0, np.where(c > -1, b, 2 * c))}),
    "clamp": (lambda a, b, c: hg.clamp(c, -0.5, 0.5), {"c": lambda a, b, c: (np.abs(c) < 0.5) * 1.0}),
    "clamp_by_inputs": (lambda a, b, c: hg.clamp(c, -a, b),
                        {"c": lambda a, b, c: ((c > -a) & (c < b)) * 1.0,
                         "a": lambda a, b, c: (c < -a) * -1.0,
                         "b": lambda a, b, c: (c > b) * 1.0}),
    "lerp": (lambda a, b, c: hg.lerp(a, b, _lerp_t(c)),
             {"a": lambda a, b, c: 1 - _lerp_t(c), "b": lambda a, b, c: _lerp_t(c),
              "c": lambda a, b, c: 0.25 * (b - a)}),
    "chain": (lambda a, b, c: hg.exp(hg.sin(a) * b),
              {"a": lambda a, b, c: np.exp(np.sin(a) * b) * np.cos(a) * b,
               "b": lambda a, b, c: np.exp(np.sin(a) * b) * np.sin(a)}),
    "reuse": (lambda a, b, c: (a * c) * (a * c) + a,
              {"a": lambda a, b, c: 2 * a * c * c + 1, "c": lambda a, b, c: 2 * a * a * c}),
    # Zero-gradient nodes: they must contribute exactly 0, never raise.
    "floor": (lambda a, b, c: hg.floor(c * 3.0), {}),
    "ceil": (lambda a, b, c: hg.ceil(c * 3.0), {}),
    "round": (lambda a, b, c: hg.round(c * 3.0), {}),
    "int_cast": (lambda a, b, c: hg.f64(hg.i32(c * 3.0)), {}),
    "int_arith": (lambda a, b, c: hg.f64(hg.i32(a * 4.0) // 3 + hg.i32(b) % 2), {}),
    "comparison_as_float": (lambda a, b, c: hg.select(a > b, 1.0, 0.0) * 2.0, {}),
    # Casts between floats pass the gradient through unchanged.
    "float_cast": (lambda a, b, c: hg.f64(hg.f32(a)) * b,
                   {"a": lambda a, b, c: b, "b": lambda a, b, c: a.astype(np.float32).astype(np.float64)}),
}
NAMES = list(TERMS)
NO_FD = {"float_cast"}  # float32 rounding makes its finite differences noisy


@pytest.fixture(scope="module")
def rules():
    a = hg.ImageParam(F64, 1, "a")
    b = hg.ImageParam(F64, 1, "b")
    c = hg.ImageParam(F64, 1, "c")
    w = hg.ImageParam(F64, 2, "w")
    r = hg.RDom([(0, N)], name="r")
    total = None
    for k, name in enumerate(NAMES):
        term = w[k, r.x] * TERMS[name][0](a[r.x], b[r.x], c[r.x])
        total = term if total is None else total + term
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += total
    return GradFn(loss, [a, b, c])


def _inputs(rng):
    return {"a": rng.uniform(0.5, 1.5, N), "b": rng.uniform(0.5, 1.5, N),
            "c": rng.uniform(-2, 2, N)}


def _one_hot(name):
    w = np.zeros((len(NAMES), N))
    w[NAMES.index(name)] = 1.0
    return w


@pytest.mark.parametrize("name", NAMES)
def test_rule_matches_closed_form_partials(rules, rng, name):
    inputs = _inputs(rng)
    _, grads, _ = rules({**inputs, "w": _one_hot(name)})
    derivs = TERMS[name][1]
    for var, g in zip("abc", grads):
        expected = derivs[var](inputs["a"], inputs["b"], inputs["c"]) if var in derivs else np.zeros(N)
        assert g.dtype == np.float64 and g.shape == (N,)
        tol = 1e-6 if name in NO_FD else 1e-12  # the adjoint of a float32 node is float32
        np.testing.assert_allclose(g, expected, rtol=tol, atol=1e-12,
                                   err_msg=f"rule '{name}', d/d{var}")


def test_all_rules_agree_with_finite_differences(rules, rng):
    inputs = _inputs(rng)
    w = rng.standard_normal((len(NAMES), N))
    for name in NO_FD:
        w[NAMES.index(name)] = 0.0
    check_grads(rules, {**inputs, "w": w}, rng, n_dirs=4)


def test_loss_value_is_the_weighted_sum_of_terms(rules, rng):
    """The forward half of the same pipeline (guards the oracle above)."""
    inputs = _inputs(rng)
    value, _, _ = rules({**inputs, "w": _one_hot("chain")})
    expected = np.sum(np.exp(np.sin(inputs["a"]) * inputs["b"]))
    np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["min", "max"])
def test_min_max_ties_send_the_whole_gradient_to_one_side_consistently(rules, rng, name):
    """At a == c the subgradient of min/max goes entirely to ONE argument, the same
    argument at every tie, and the two partials sum to 1 (d/dt min(t, t) = 1)."""
    inputs = _inputs(rng)
    inputs["c"] = inputs["a"].copy()
    _, (ga, _, gc), _ = rules({**inputs, "w": _one_hot(name)})
    np.testing.assert_array_equal(ga + gc, np.ones(N))
    assert set(np.unique(ga)) <= {0.0, 1.0}
    assert len(np.unique(ga)) == 1, f"{name} ties split inconsistently: d/da={ga}, d/dc={gc}"


def test_abs_at_zero_has_a_subgradient_in_minus_one_one(rules, rng):
    inputs = _inputs(rng)
    inputs["c"][::2] = 0.0
    _, (_, _, gc), _ = rules({**inputs, "w": _one_hot("abs")})
    assert np.all(np.abs(gc[::2]) <= 1.0)
    np.testing.assert_array_equal(gc[1::2], np.sign(inputs["c"][1::2]))


def test_clamp_at_its_bounds_has_a_subgradient_in_zero_one(rules, rng):
    inputs = _inputs(rng)
    inputs["c"][:4] = [-0.5, 0.5, -0.5, 0.5]
    _, (_, _, gc), _ = rules({**inputs, "w": _one_hot("clamp")})
    assert np.all((gc[:4] == 0.0) | (gc[:4] == 1.0))


def test_float32_pipeline_has_float32_adjoints(rng):
    """Adjoints take their primal's type (API.md), also through float32 math."""
    x = hg.ImageParam(hg.Float(32), 1, "x32")
    r = hg.RDom([(0, N)], name="r")
    loss = hg.Func("loss32")
    loss[()] = 0.0
    loss[()] += hg.tanh(x[r.x]) * x[r.x] + hg.sqrt(hg.abs(x[r.x]) + 1.0)
    data = rng.uniform(-2, 2, N).astype(np.float32)
    (g,) = hg.gradients(loss, [x], x32=data)
    assert g.dtype == np.float32 and g.shape == (N,)
    t = np.tanh(data.astype(np.float64))
    expected = (1 - t * t) * data + t + 0.5 * np.sign(data) / np.sqrt(np.abs(data) + 1.0)
    np.testing.assert_allclose(g, expected, rtol=2e-5, atol=2e-6)
