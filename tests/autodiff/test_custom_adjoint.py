"""hg.custom_adjoint: user rules replace the derived adjoints of a Func's inputs.

Oracles: float64 central differences (helpers.check_grads), NumPy closed forms, and
the adjoints reverse mode derives for the same Func without a rule.
"""

import numpy as np
import pytest

import halogrid as hg

from helpers import F64, GradFn, check_grads

i, j = hg.Var("i"), hg.Var("j")


def _softmax(x):
    """Numerically stable softmax over a 1-D input: exp(x - max x) / sum."""
    r = hg.RDom([(0, x.dim_extent(0))], name="r_sm")
    top = hg.Func("top")
    top[()] = hg.maximum(x[r.x])
    ex = hg.Func("ex")
    ex[i] = hg.exp(x[i] - top[()])
    total = hg.Func("total")
    total[()] = hg.sum(ex[r.x])
    sm = hg.Func("softmax")
    sm[i] = ex[i] / total[()]
    return sm, r


def _softmax_rule(x, sm, r):
    """d_x = s * (d_s - <d_s, s>): the softmax VJP, written over the forward values."""
    def rule(d_sm):
        dot = hg.Func("dot")
        dot[()] = hg.sum(d_sm[r.x] * sm[r.x])
        d_x = hg.Func("d_x_custom")
        d_x[i] = sm[i] * (d_sm[i] - dot[()])
        return {x: d_x}
    return rule


def _weighted_loss(f, w, n):
    r = hg.RDom([(0, n)], name="r_loss")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += w[r.x] * f[r.x]
    return loss


@pytest.mark.parametrize("offset, eps", [(0.0, 1e-6), (1000.0, 1e-5)])
def test_softmax_custom_adjoint_matches_finite_differences_and_numpy(rng, offset, eps):
    """Near 1000 exp overflows without the max shift; the rule's adjoint is built from
    the (finite) softmax values alone."""
    n = 7
    x = hg.ImageParam(F64, 1, "x")
    w = hg.Buffer(rng.standard_normal(n), name="w")
    sm, r = _softmax(x)
    hg.custom_adjoint(sm, _softmax_rule(x, sm, r))
    gfn = GradFn(_weighted_loss(sm, w, n), [x])
    xv = offset + rng.standard_normal(n) * 3.0
    grads = check_grads(gfn, {"x": xv}, rng, eps=eps, rtol=10 * eps)
    s = np.exp(xv - xv.max()) / np.exp(xv - xv.max()).sum()
    np.testing.assert_allclose(grads["x"], s * (w.array - np.dot(w.array, s)), rtol=1e-9)


def test_rule_replaces_derived_adjoint_and_matches_it(rng):
    """The same softmax without a rule: reverse mode derives an equal adjoint."""
    n = 6
    xv = rng.standard_normal(n)
    results = []
    for custom in (False, True):
        x = hg.ImageParam(F64, 1, "x")
        w = hg.Buffer(np.linspace(-1.0, 2.0, n), name="w")
        sm, r = _softmax(x)
        if custom:
            hg.custom_adjoint(sm, _softmax_rule(x, sm, r))
        d = hg.propagate_adjoints(_weighted_loss(sm, w, n))
        results.append(d[x].realize([n], x=xv))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12, atol=1e-15)


def test_funcs_behind_the_rule_get_no_adjoint_through_it():
    n = 4
    x = hg.ImageParam(F64, 1, "x")
    w = hg.Buffer(np.ones(n), name="w")
    sm, r = _softmax(x)
    hg.custom_adjoint(sm, _softmax_rule(x, sm, r))
    d = hg.propagate_adjoints(_weighted_loss(sm, w, n))
    ex = next(f for f in hg.Pipeline([sm]).lower().graph.funcs if f.name == "ex")
    assert len(d[ex].definitions) == 1  # nothing was sent to it: the constant 0
    np.testing.assert_array_equal(d[ex].realize([n]), np.zeros(n))


def _normalise(x, n):
    """(x - mean) / sqrt(var + 1e-3) over a 1-D input of length n."""
    r = hg.RDom([(0, n)], name="r_norm")
    mean = hg.Func("mean")
    mean[()] = hg.sum(x[r.x]) / float(n)
    var = hg.Func("var")
    var[()] = hg.sum((x[r.x] - mean[()]) ** 2) / float(n)
    std = hg.Func("std")
    std[()] = hg.sqrt(var[()] + 1e-3)
    out = hg.Func("normalised")
    out[i] = (x[i] - mean[()]) / std[()]
    return out, std, r


def test_normalisation_custom_adjoint_matches_finite_differences(rng):
    n = 8
    x = hg.ImageParam(F64, 1, "x")
    w = hg.Buffer(rng.standard_normal(n), name="w")
    out, std, r = _normalise(x, n)

    def rule(d_out):
        mean_d = hg.Func("mean_d")
        mean_d[()] = hg.sum(d_out[r.x]) / float(n)
        mean_dn = hg.Func("mean_dn")
        mean_dn[()] = hg.sum(d_out[r.x] * out[r.x]) / float(n)
        d_x = hg.Func("d_x_norm")
        d_x[i] = (d_out[i] - mean_d[()] - out[i] * mean_dn[()]) / std[()]
        return {x: d_x}

    hg.custom_adjoint(out, rule)
    gfn = GradFn(_weighted_loss(out, w, n), [x])
    check_grads(gfn, {"x": rng.standard_normal(n) * 2.0 + 1.0}, rng)


def test_a_rule_scaled_by_two_is_what_gradients_use(rng):
    n = 6
    x = hg.ImageParam(F64, 1, "x")
    w = hg.Buffer(rng.standard_normal(n), name="w")
    sq = hg.Func("sq")
    sq[i] = x[i] * x[i]

    def rule(d_sq):
        d_x = hg.Func("d_x_2x")
        d_x[i] = 2.0 * (2.0 * x[i] * d_sq[i])  # twice the true adjoint
        return {x: d_x}

    hg.custom_adjoint(sq, rule)
    xv = rng.standard_normal(n)
    (grad,) = hg.gradients(_weighted_loss(sq, w, n), [x], x=xv)
    np.testing.assert_allclose(grad, 2.0 * (2.0 * xv * w.array), rtol=1e-12)


def test_param_adjoint_is_0d_and_left_out_inputs_get_zero(rng):
    n = 5
    x = hg.ImageParam(F64, 1, "x")
    y = hg.ImageParam(F64, 1, "y")
    gain = hg.Param(F64, "gain", 1.5)
    w = hg.Buffer(rng.standard_normal(n), name="w")
    f = hg.Func("scaled")
    f[i] = x[i] * gain + y[i]
    r = hg.RDom([(0, n)], name="r_g")

    def rule(d_f):
        d_gain = hg.Func("d_gain")
        d_gain[()] = hg.sum(d_f[r.x] * x[r.x])
        d_x = hg.Func("d_x_g")
        d_x[i] = d_f[i] * gain
        return {gain: d_gain, x: d_x}  # y left out: constant through f

    hg.custom_adjoint(f, rule)
    gfn = GradFn(_weighted_loss(f, w, n), [x, gain])
    inputs = {"x": rng.standard_normal(n), "y": rng.standard_normal(n), "gain": 1.5}
    check_grads(gfn, inputs, rng)
    d = hg.propagate_adjoints(_weighted_loss(f, w, n))
    assert len(d[y].definitions) == 1
    np.testing.assert_array_equal(d[y].realize([n]), np.zeros(n))


def _square_with(rule):
    x = hg.ImageParam(hg.Float(32), 1, "x")
    f = hg.Func("sq_f")
    f[i] = x[i] * x[i]
    hg.custom_adjoint(f, lambda d_f: rule(x, d_f))
    r = hg.RDom([(0, 4)], name="r_e")
    loss = hg.Func("loss_e")
    loss[()] = 0.0
    loss[()] += f[r.x]
    return loss


def _func(dims, t=hg.Float(32)):
    g = hg.Func("wrong")
    g[(i, j)[:dims]] = hg.cast(t, 1.0)
    return g


@pytest.mark.parametrize("rule, message", [
    (lambda x, d: [d], "the rule returned a list, not a dict"),
    (lambda x, d: {hg.ImageParam(hg.Float(32), 1, "other"): d},
     "an adjoint for 'other', which 'sq_f' does not read"),
    (lambda x, d: {x: _func(2)}, "the adjoint for 'x' has 2 dimension(s) and 'x' has 1"),
    (lambda x, d: {x: _func(1, F64)}, "the adjoint for 'x' is hg.Float(64) and 'x' is "
                                       "hg.Float(32)"),
    (lambda x, d: {x: x[i] * 2.0}, "the adjoint for 'x' is a Binary, not a defined"),
])
def test_bad_rules_raise_naming_the_func(rule, message):
    with pytest.raises(hg.DifferentiationError) as err:
        hg.propagate_adjoints(_square_with(rule))
    text = str(err.value)
    assert "Func 'sq_f' with its custom adjoint" in text and message in text


def test_custom_adjoint_needs_a_defined_func_and_a_callable():
    with pytest.raises(hg.DifferentiationError, match="not a defined Func"):
        hg.custom_adjoint(hg.Func("undefined"), lambda d: {})
    f = hg.Func("defined")
    f[i] = i * 1.0
    with pytest.raises(hg.DifferentiationError, match="the rule is a dict"):
        hg.custom_adjoint(f, {})
