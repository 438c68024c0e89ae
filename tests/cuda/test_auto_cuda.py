"""auto_schedule(target="cuda") on the benchmark workloads (W1-W7 of
benchmarks/workloads.py at 16x16, W2 with 16 channels of 4x4), forward
and forward + gradient, compiled for 'cuda' and equal to the CPU target's results
(cuda_compare.same); the forwards also within float32 rounding of the NumPy float64
references of benchmarks/peers/numpy_ref.py."""

import numpy as np
import pytest

import halogrid as hg
from benchmarks import workloads
from benchmarks.peers import halogrid_impl as impl
from benchmarks.peers import numpy_ref
from cuda_compare import same

def _inputs(name: str) -> dict:
    if name == "W2":
        rng = np.random.default_rng(0)
        return {"inp": rng.standard_normal((16, 4, 4)).astype(np.float32),
                "k": (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32),
                "target": rng.standard_normal((16, 4, 4)).astype(np.float32)}
    return workloads.WORKLOADS[name].make_inputs(16, 16)   # W4: a 1x1-cell grid


def _auto(name: str, grad: bool):
    """(pipeline auto-scheduled for cuda, output shapes, its input names)."""
    algorithm, wrt, n_fwd = impl.SPECS[name]
    params, outs, loss = algorithm()
    inputs = _inputs(name)
    if grad:
        d = hg.propagate_adjoints(loss)
        p = hg.Pipeline([loss] + [d[params[n]] for n in wrt])
        shapes = [()] + [inputs[n].shape for n in wrt]
    else:
        p = hg.Pipeline(outs)
        shapes = [inputs["target"].shape] + [(64,)] * (n_fwd - 1)
    p.auto_schedule(target="cuda")
    return p, shapes, inputs


def _used(p, inputs) -> dict:
    from halogrid.ir.graph import build_graph
    names = {i.name for i in build_graph(p.outputs).inputs}
    return {k: v for k, v in inputs.items() if k in names}


@pytest.mark.parametrize("name", sorted(impl.SPECS))
def test_forward(name):
    p, shapes, inputs = _auto(name, grad=False)
    got = same(p, shapes, rtol=1e-4, atol=1e-5, **_used(p, inputs))
    want = getattr(numpy_ref, f"fwd_{name.lower()}")(inputs)
    for g, w in zip(got, want if isinstance(want, tuple) else (want,)):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("name", sorted(impl.SPECS))
def test_gradient(name):
    p, shapes, inputs = _auto(name, grad=True)
    same(p, shapes, rtol=1e-3, atol=1e-4, **_used(p, inputs))
