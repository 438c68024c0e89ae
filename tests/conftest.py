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
