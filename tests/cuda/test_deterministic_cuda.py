"""Deterministic mode on CUDA (`compile("cuda", deterministic=True)`): the scatter-shaped
cases of tests/test_deterministic.py on 12x16 images under the simulator (it runs a
Python thread per CUDA thread), 64x80 on a GPU, auto-scheduled for CUDA where the CPU
test auto-schedules.

Each runs twice (the simulator's threads switching every microsecond, so that racing
threads lose updates) with bitwise-equal results, equal to the float64 NumPy oracle and to
the CPU target's deterministic results (its kernels run as Python: cuda_compare)
within float32 tolerance; its code has no `cuda.atomic` call (the default mode's
keeps a user's atomic()), in a cache entry of its own.
"""

import contextlib
import sys

import numpy as np
import pytest

from cuda_compare import as_tuple, python_kernels
from halogrid.codegen.backends.cuda import runtime
from halogrid.codegen.target import get_target
from test_deterministic import CASES, _bits, _pipeline

SHAPE = (12, 16) if runtime.simulated() else (64, 80)


@contextlib.contextmanager
def _switching_often():
    """The simulator's threads (one per CUDA thread) switch every microsecond, not every
    5 ms: the threads of a block that race on a cell lose updates at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("name", list(CASES))
def test_deterministic_cuda_runs_are_bitwise_equal_and_match_the_cpu(name, rng):
    p, inputs, shapes, want = _pipeline(name, rng, SHAPE, "cuda")
    fn = p.compile("cuda", deterministic=True)
    with _switching_often():
        first, second = (as_tuple(fn(shapes=shapes, **inputs)) for _ in range(2))
    assert _bits(second) == _bits(first), "two runs differ"
    with python_kernels():
        cpu = as_tuple(p.compile("cpu", deterministic=True)(shapes=shapes, **inputs))
    for i, (got, c, w) in enumerate(zip(first, cpu, want)):
        scale = np.abs(w).max()
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5 * scale, err_msg=f"output {i}")
        np.testing.assert_allclose(got, c, rtol=1e-5, atol=1e-5 * scale, err_msg=f"output {i}")


@pytest.mark.parametrize("name", list(CASES))
def test_deterministic_cuda_code_has_no_atomics(name, rng):
    p, _, _, _ = _pipeline(name, rng, SHAPE, "cuda")
    exact = p.compile("cuda", deterministic=True)
    assert "cuda.atomic." not in p.source(get_target("cuda", True))
    fast = p.compile("cuda")
    assert fast.key != exact.key and fast.module is not exact.module
    if name == "atomic_scatter":  # the user's atomic(), honoured by the default mode
        assert "cuda.atomic.add(" in p.source(get_target("cuda", False))
