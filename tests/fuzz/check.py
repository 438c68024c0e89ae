"""Run one fuzz Case under one schedule and compare halogrid with the NumPy oracle.

Forward: the output over [0, H) x [0, W) and the loss against `npeval`. Gradients:
<d[w], v> for random directions v against float64 central differences of the NumPy
loss (the oracle is differentiated numerically, so halogrid's forward code is not
part of the gradient check). Any mismatch or exception raises AssertionError whose
message starts with the seed, the schedule and the pipeline's text.
"""

from __future__ import annotations

import traceback

import numpy as np

from . import hgbuild, npeval
from .pipegen import generate

LAB_RANGES = {"int32": (-20, 21), "int16": (-20, 21), "uint8": (0, 41), "uint16": (0, 41),
              "uint32": (0, 41)}
EPS = 1e-6


def case_inputs(case) -> dict:
    """Input arrays of a case, deterministic in its seed."""
    rng = np.random.default_rng([case.seed, 7])
    H, W = case.shape
    lo, hi = LAB_RANGES[case.lab_type]
    return {"a": rng.uniform(-1, 1, (H, W)), "b": rng.uniform(-1, 1, (H, W)),
            "p": float(rng.uniform(0.5, 1.5)),
            "lab": rng.integers(lo, hi, (H, W)).astype(case.lab_type),
            "wts": rng.uniform(-1, 1, (H, W))}


def _moved(inputs: dict, names, direction: dict, step: float) -> dict:
    return {**inputs, **{n: inputs[n] + step * direction[n] for n in names}}


def _compare_forward(case, got_out, got_loss, ev) -> None:
    H, W = case.shape
    Y, X = np.mgrid[0:H, 0:W]
    want = ev.at(case.output.name, Y, X)
    np.testing.assert_allclose(got_out, want, rtol=1e-9, atol=1e-9 * (1 + np.abs(want).max()),
                               err_msg="forward output differs from NumPy")
    want_loss = ev.loss()
    assert abs(float(got_loss) - want_loss) <= 1e-9 * (1 + np.abs(want).sum()), (
        f"loss {float(got_loss)!r} differs from NumPy's {want_loss!r}")


def _compare_gradients(case, names, grads, inputs, rng, n_dirs: int) -> None:
    for n, g in zip(names, grads):
        assert np.shape(g) == np.shape(inputs[n]), f"d[{n}] has shape {np.shape(g)}"
        assert np.all(np.isfinite(g)), f"d[{n}] is not finite:\n{g}"
    for k in range(n_dirs):
        v = {n: rng.standard_normal(np.shape(inputs[n])) for n in names}
        hi = npeval.Evaluator(case, _moved(inputs, names, v, EPS)).loss()
        lo = npeval.Evaluator(case, _moved(inputs, names, v, -EPS)).loss()
        numeric = (hi - lo) / (2 * EPS)
        analytic = sum(float(np.vdot(g, v[n])) for n, g in zip(names, grads))
        scale = sum(float(np.vdot(np.abs(g), np.abs(v[n]))) for n, g in zip(names, grads))
        assert abs(numeric - analytic) <= 1e-7 + 1e-5 * max(scale, abs(numeric)), (
            f"direction {k}: finite differences {numeric!r}, <grad, v> = {analytic!r}\n"
            + "\n".join(f"d[{n}] =\n{np.asarray(g)}" for n, g in zip(names, grads)))


def run_case(case, schedule: str, n_dirs: int = 2) -> None:
    """Compile the case under `schedule`, check forward values and gradients."""
    import halogrid as hg
    inputs = case_inputs(case)
    H, W = case.shape
    built = hgbuild.build(case, inputs["wts"])
    hgbuild.SCHEDULES[schedule](built.outputs)
    fn = hg.Pipeline(built.outputs).compile()
    used = case.inputs_used()
    call = {n: inputs[n] for n in ("a", "b", "p", "lab") if n in used}
    names = [str(w.name) for w in built.wrt]
    shapes = [(H, W), ()] + [np.shape(inputs[n]) for n in names]
    res = fn(shapes=shapes, **call)
    ev = npeval.Evaluator(case, inputs)
    _compare_forward(case, res[0], res[1], ev)
    _compare_gradients(case, names, [np.asarray(g) for g in res[2:]], inputs,
                       np.random.default_rng([case.seed, 11]), n_dirs)


def check_seed(seed: int, schedules=("default", "auto", "root"), excluded=None) -> None:
    """Every schedule of the case of `seed`; a failure names the seed and the pipeline."""
    import numba
    case = generate(seed, excluded)
    prefix = "NUMBA_DISABLE_JIT=1 " if numba.config.DISABLE_JIT else ""
    for schedule in schedules:
        try:
            run_case(case, schedule)
        except Exception as e:  # noqa: BLE001 - every failure gets the case's text
            detail = "".join(traceback.format_exception_only(type(e), e))
            raise AssertionError(
                f"fuzz case failed: seed {seed}, schedule '{schedule}' (rerun: {prefix}"
                f"python -m tests.fuzz.check {seed})\n{case.text()}\n{detail}") from e


if __name__ == "__main__":
    import sys
    for arg in sys.argv[1:]:
        print(generate(int(arg)).text())
        check_seed(int(arg))
        print("ok")
