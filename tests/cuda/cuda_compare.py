"""Run one pipeline for target='cuda' and for target='cpu' and compare the results.

The CPU reference is the CPU target's generated module run with Numba's JIT off (as
the fuzz breadth leg runs it): the same lowering, the same driver, kernels executed
by Python. Compiling every reference with Numba would take most of the leg's budget
(a 3x3 convolution's loss and two adjoints: 6.2 s with the JIT, 0.2 s without). It
is compiled in deterministic mode: its scatters are privatised, never atomic adds
(an llvmlite intrinsic, which cannot run as Python).

Invariants: `same(...)` compiles the Pipeline for both targets, runs both on the same
inputs and asserts equal dtypes and shapes; integer and boolean outputs must be
bitwise equal, float outputs equal within `rtol`/`atol` (sums may be added in
another order on the GPU: private copies per block, atomics). It returns the CUDA
results, so a test can also compare them with an independent NumPy oracle.
"""

from __future__ import annotations

import numpy as np

import halogrid as hg
from jit_off import python_kernels

RTOL, ATOL = 2e-5, 1e-6


def as_pipeline(outputs) -> hg.Pipeline:
    return outputs if isinstance(outputs, hg.Pipeline) else hg.Pipeline(outputs)


def cpu_run(outputs, shapes=None, **inputs):
    """The CPU target's results (kernels run as Python, no atomics)."""
    with python_kernels():
        fn = as_pipeline(outputs).compile(target="cpu", deterministic=True)
        return fn(shapes=shapes, **inputs)


def cuda_run(outputs, shapes=None, deterministic=False, **inputs):
    return as_pipeline(outputs).compile(target="cuda", deterministic=deterministic)(
        shapes=shapes, **inputs)


def as_tuple(results) -> tuple:
    return results if isinstance(results, tuple) else (results,)


def assert_close(got, want, rtol=RTOL, atol=ATOL, what="output") -> None:
    """Equal dtypes and shapes; ints/bools bitwise, floats within rtol/atol, NaNs
    where the reference has NaNs."""
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want), f"{len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        name = f"{what} {i}"
        assert g.shape == w.shape, f"{name}: shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, expected {w.dtype}"
        if g.dtype.kind in "biu":
            assert np.array_equal(g, w), f"{name}: {g} != {w}"
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)


def same(outputs, shapes=None, rtol=RTOL, atol=ATOL, **inputs) -> tuple:
    """CUDA results equal to the CPU target's (see the module doc); the CUDA results."""
    p = as_pipeline(outputs)
    got = cuda_run(p, shapes, **inputs)
    want = cpu_run(p, shapes, **inputs)
    assert_close(got, want, rtol, atol, "cuda vs cpu: output")
    return as_tuple(got)


def seeded_loss(out, seed, name="loss"):
    """loss[()] = sum(out * seed) over seed's domain: its adjoint of out is seed."""
    r = hg.RDom(seed)
    at = tuple(r[i] for i in range(seed.dimensions()))
    loss = hg.Func(name)
    loss[()] = 0.0
    loss[()] += out[at] * seed[at]
    return loss
