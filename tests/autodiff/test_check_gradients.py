"""hg.check_gradients: passes on correct pipelines (float64 and float32, 0-D and
non-0-D losses, Buffers, ImageParams and Params, the caller's schedule), and raises
hg.GradientCheckError on deliberately wrong gradients (a `gradients=` override), naming
the input, the direction, both values and the relative error. The report's numbers are
checked against NumPy oracles of the same directional derivatives."""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64

SHAPE = (5, 6)


def _blur_loss(img, k, gain, dtype_const=hg.f64):
    """sum tanh(gain * conv(repeat_edge(img), k))**2 over the image."""
    y, x = hg.Var("y"), hg.Var("x")
    bc = hg.BoundaryConditions.repeat_edge(img)
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    conv = hg.Func("conv")
    conv[y, x] = dtype_const(0.0)
    conv[y, x] += bc[y + r.y, x + r.x] * k[r.y + 1, r.x + 1]
    rr = hg.RDom([(0, SHAPE[0]), (0, SHAPE[1])], name="rr")
    loss = hg.Func("loss")
    loss[()] = dtype_const(0.0)
    loss[()] += hg.tanh(gain * conv[rr[0], rr[1]]) ** 2
    return loss, conv


@pytest.fixture
def f64_case(rng):
    img = hg.ImageParam(F64, 2, "img")
    k = hg.Buffer(np.zeros((3, 3)), name="k")
    gain = hg.Param(F64, "gain", 1.0)
    loss, conv = _blur_loss(img, k, gain)
    values = {img: rng.standard_normal(SHAPE), k: rng.standard_normal((3, 3)) / 3, gain: 0.8}
    return loss, conv, (img, k, gain), values


def test_correct_gradients_pass_and_the_report_holds_the_numbers(f64_case):
    loss, _, (img, k, gain), values = f64_case
    report = hg.check_gradients(loss, values, directions=2, seed=3)
    assert [(r.input, r.direction) for r in report.rows] == [
        ("img", 0), ("img", 1), ("k", 0), ("k", 1), ("gain", 0), ("gain", 1)]
    assert report.max_rel_err < 1e-6 and all(r.ok for r in report.rows)
    # The reported gradient norms against hg.gradients, and the directional derivatives
    # along the same seeded directions against NumPy central differences of the loss.
    arrays = {str(o.name): v for o, v in values.items()}
    grads = hg.gradients(loss, [img, k, gain], **arrays)
    rng = np.random.default_rng(3)
    fn = hg.Pipeline([loss]).compile()
    for row, (name, g) in zip(report.rows[::2], zip(["img", "k", "gain"], grads)):
        assert row.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
    for row in report.rows:
        v = np.asarray(rng.standard_normal(np.shape(arrays[row.input])))
        hi = fn(**{**arrays, row.input: arrays[row.input] + 1e-6 * v})
        lo = fn(**{**arrays, row.input: arrays[row.input] - 1e-6 * v})
        assert row.fd == pytest.approx(float(hi - lo) / 2e-6, rel=1e-9)
        assert row.forward == pytest.approx(row.fd, rel=1e-6)
        assert row.reverse == pytest.approx(row.fd, rel=1e-6)
    text = str(report)
    assert text.splitlines()[1].split() == ["input", "dir", "|grad|", "fd", "reverse",
                                            "forward", "rel", "err"]
    assert len(text.splitlines()) == 2 + len(report.rows) and "MISMATCH" not in text


def test_a_wrong_gradient_raises_naming_input_direction_values_and_error(f64_case):
    loss, _, (img, k, gain), values = f64_case
    y, x = hg.Var("y"), hg.Var("x")
    d = hg.propagate_adjoints(loss)
    scaled = hg.Func("scaled")
    scaled[y, x] = d[img][y, x] * 1.02
    with pytest.raises(hg.GradientCheckError) as info:
        hg.check_gradients(loss, {img: values[img]}, gradients={img: scaled}, k=values[k])
    err = info.value
    assert isinstance(err, hg.HalogridError) and isinstance(err, AssertionError)
    message = str(err)
    assert message.startswith("Can't confirm the gradient of Func 'loss' with respect to "
                              "'img' along random direction 0: finite differences ")
    row = err.report.rows[0]
    assert repr(row.fd) in message and repr(row.reverse) in message
    assert f"relative error {row.rel_err:.3g}" in message
    assert row.reverse == pytest.approx(1.02 * row.forward, rel=1e-9)
    assert "MISMATCH" in str(err.report)


def test_a_gradient_wrong_at_one_pixel_is_caught(f64_case):
    loss, _, (img, k, gain), values = f64_case
    y, x = hg.Var("y"), hg.Var("x")
    d = hg.propagate_adjoints(loss)
    off = hg.Func("off_by_one_pixel")
    off[y, x] = d[img][y, x] + hg.select((y == 2) & (x == 3), hg.f64(0.5), hg.f64(0.0))
    with pytest.raises(hg.GradientCheckError, match="with respect to 'img'"):
        hg.check_gradients(loss, {img: values[img], gain: values[gain]},
                           gradients={img: off}, k=values[k])


def test_non_scalar_output_checks_the_vjp_under_the_callers_schedule(f64_case):
    """conv (2-D) seeded with a random output adjoint; the loop schedule is kept."""
    _, conv, (img, k, gain), values = f64_case
    y, x = hg.Var("y"), hg.Var("x")
    yo, yi = hg.Var("yo"), hg.Var("yi")
    conv.split(y, yo, yi, 2).vectorize(x, 4)
    report = hg.check_gradients(conv, {img: values[img], k: values[k]}, shapes=SHAPE)
    assert len(report.rows) == 6 and report.max_rel_err < 1e-6
    explicit = hg.check_gradients(conv, {k: values[k]}, shapes=[SHAPE], img=values[img])
    default = hg.check_gradients(conv, {k: values[k]}, img=values[img])  # img's shape
    assert [r.fd for r in default.rows] == [r.fd for r in explicit.rows]


def test_float32_pipelines_pass_with_the_float32_defaults(rng):
    img = hg.ImageParam(hg.Float(32), 2, "img32")
    k = hg.Buffer(np.zeros((3, 3), np.float32), name="k32")
    gain = hg.Param(hg.Float(32), "gain32", 1.0)
    loss, conv = _blur_loss(img, k, gain, dtype_const=hg.f32)
    values = {img: rng.standard_normal(SHAPE).astype(np.float32),
              k: (rng.standard_normal((3, 3)) / 3).astype(np.float32), gain: 0.8}
    report = hg.check_gradients(loss, values, directions=2)
    assert report.max_rel_err < 1e-2
    vjp = hg.check_gradients(conv, {img: values[img], k: values[k]}, directions=2)
    assert vjp.max_rel_err < 1e-2
    # the float32 tolerances still catch a gradient 5% off
    y, x = hg.Var("y"), hg.Var("x")
    off = hg.Func("off")
    off[y, x] = hg.propagate_adjoints(loss)[img][y, x] * 1.05
    with pytest.raises(hg.GradientCheckError, match="'img32' along random direction 0"):
        hg.check_gradients(loss, {img: values[img]}, gradients={img: off}, k32=values[k])


def test_inputs_the_loss_does_not_read_have_zero_rows(f64_case, rng):
    loss, _, (img, k, gain), values = f64_case
    unused = hg.ImageParam(F64, 1, "unused")
    report = hg.check_gradients(loss, {unused: rng.standard_normal(4), gain: 0.8},
                                directions=1, img=values[img], k=values[k])
    row = report.rows[0]
    assert (row.input, row.grad_norm, row.fd, row.reverse, row.forward) == ("unused", 0, 0, 0, 0)


def test_checker_errors_name_what_is_wrong(f64_case):
    loss, _, (img, k, gain), values = f64_case
    n = hg.ImageParam(hg.Int(32), 2, "n")
    y, x = hg.Var("y"), hg.Var("x")
    flat = hg.Func("flat")
    flat[y] = hg.f64(0.0)
    cases = [
        (dict(inputs={n: np.zeros(SHAPE, np.int32)}),
         "with respect to 'n' in check_gradients: it has integer type"),
        (dict(inputs={loss: 1.0}), "only inputs (Buffer, ImageParam, Param) can be checked"),
        (dict(inputs={img: values[img]}, gradients={img: flat}),
         "its gradients= entry is not a Func of the input's dimensions"),
        (dict(inputs={img: values[img]}, gradients={gain: flat}),
         "'gain' in check_gradients: it has a gradients= entry but is not in the inputs"),
    ]
    for kwargs, message in cases:
        with pytest.raises(hg.DifferentiationError) as info:
            hg.check_gradients(loss, **kwargs)
        assert message in str(info.value)
    with pytest.raises(hg.InputError, match="input 'img'"):
        hg.check_gradients(loss, {img: np.zeros(3)})
