"""Shared test setup.

HALOGRID_CHECK=1 turns on IR verification between passes; it must be set before
halogrid is imported, so it happens at the top of this file (conftest.py is imported
before any test module). The compile cache goes to a throwaway directory for the
session unless the caller (e.g. CI) already chose one.
"""

import atexit
import os
import shutil
import tempfile

os.environ["HALOGRID_CHECK"] = "1"
if not os.environ.get("HALOGRID_CACHE_DIR"):
    _cache = tempfile.mkdtemp(prefix="halogrid-test-cache-")
    os.environ["HALOGRID_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

# tests/cuda is the CUDA leg, a pytest process of its own (tests/cuda/conftest.py):
# collected only when the simulator or a GPU run is asked for, so the CPU suite never
# runs with NUMBA_ENABLE_CUDASIM set.
_CUDA_LEG = any(os.environ.get(v, "0") not in ("", "0")
                for v in ("NUMBA_ENABLE_CUDASIM", "HALOGRID_TEST_CUDA"))
collect_ignore = [] if _CUDA_LEG else ["cuda"]

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    """A seeded generator, fresh for every test (tests stay order-independent)."""
    return np.random.default_rng(20240611)


@pytest.fixture
def small_image(rng):
    """A small float32 image in [0, 1), non-square so axis mix-ups show."""
    return rng.random((6, 9), dtype=np.float32)
