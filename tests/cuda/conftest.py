"""The CUDA leg: tests/cuda runs in a pytest process of its own,
`NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda` without a GPU (numba-cuda's
simulator) or `HALOGRID_TEST_CUDA=1 python -m pytest tests/cuda` on a GPU machine;
tests/conftest.py leaves this folder out of every other run, so the simulator never
reaches the CPU tests.

Tests marked `gpu` (timing, the disk cache across processes, torch CUDA tensors,
streams) need a real GPU: they are skipped under the simulator or where numba-cuda
sees none; that marker is the leg's only skip.
"""

import pytest

from halogrid.codegen.backends.cuda import runtime


def _gpu_missing() -> str | None:
    if runtime.simulated():
        return "needs a real GPU (NUMBA_ENABLE_CUDASIM=1 runs the simulator)"
    from numba import cuda
    if not cuda.is_available():
        return "needs a real GPU (numba.cuda.is_available() is False)"
    return None


def pytest_collection_modifyitems(config, items):
    marked = [i for i in items if i.get_closest_marker("gpu")]
    why = _gpu_missing() if marked else None
    if why:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=why))
