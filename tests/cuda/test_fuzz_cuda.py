"""Random pipelines from the fuzzer (tests/fuzz/pipegen.py: stencils, clamped chains,
warps through boundary conditions, scans, updates, tuples, histograms by label), their
loss and gradients compiled for target='cuda', default and auto_schedule('cuda'),
against the NumPy float64 evaluator of the same case (tests/fuzz/npeval.py) and the
CPU target. Seeds with images of at most 48 pixels keep the simulator fast."""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import assert_close, cpu_run
from tests.fuzz import hgbuild, npeval
from tests.fuzz.check import case_inputs
from tests.fuzz.pipegen import generate

SEEDS = [s for s in range(60) if np.prod(generate(s).shape) <= 48][:10]


@pytest.mark.parametrize("schedule", ["default", "auto"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_pipeline_on_cuda_equals_numpy_and_the_cpu(seed, schedule):
    case = generate(seed)
    inputs = case_inputs(case)
    built = hgbuild.build(case, inputs["wts"])
    if schedule == "auto":
        hg.Pipeline(built.outputs).auto_schedule("cuda")
    call = {n: inputs[n] for n in ("a", "b", "p", "lab") if n in case.inputs_used()}
    names = [str(w.name) for w in built.wrt]
    shapes = [case.shape, ()] + [np.shape(inputs[n]) for n in names]
    got = hg.Pipeline(built.outputs).compile(target="cuda")(shapes=shapes, **call)
    want = cpu_run(built.outputs, shapes, **call)
    assert_close(got, want, 1e-6, 1e-9, f"seed {seed} ({schedule}): cuda vs cpu")
    ev = npeval.Evaluator(case, inputs)
    Y, X = np.mgrid[0:case.shape[0], 0:case.shape[1]]
    want_out = ev.at(case.output.name, Y, X)
    scale = 1 + np.abs(want_out).max()
    np.testing.assert_allclose(got[0], want_out, rtol=1e-9, atol=1e-9 * scale)
    assert abs(float(got[1]) - ev.loss()) <= 1e-9 * (1 + np.abs(want_out).sum())
