"""Random pipelines vs an independent NumPy float64 oracle.

Each seed generates a 1-5 stage pipeline (pipegen.py) checked under the default
schedule, auto_schedule and all-compute_root: forward values against npeval.py,
gradients of a weighted-sum loss against float64 central differences of the NumPy loss
along random directions. HALOGRID_FUZZ_CASES sets the number of breadth seeds (default
500), HALOGRID_FUZZ_DEPTH_CASES the real-JIT subset (default 16, every n-th seed, one
schedule each in rotation). A failure prints the seed, the schedule and the pipeline.
"""

import os

import numpy as np
import pytest

from . import check, npeval
from .check import check_seed
from .pipegen import KINDS, default_excluded, generate, overwritten_read

BREADTH = int(os.environ.get("HALOGRID_FUZZ_CASES", "500"))
DEPTH = int(os.environ.get("HALOGRID_FUZZ_DEPTH_CASES", "16"))
SCHEDULES = ("default", "auto", "root")


@pytest.mark.fuzz_breadth
@pytest.mark.parametrize("seed", range(BREADTH))
def test_random_pipeline_matches_numpy_under_three_schedules(seed):
    check_seed(seed, SCHEDULES)


@pytest.mark.fuzz_depth
@pytest.mark.parametrize("seed", range(0, BREADTH, max(1, BREADTH // max(DEPTH, 1)))[:DEPTH])
def test_random_pipeline_compiled_by_numba(seed):
    check_seed(seed, (SCHEDULES[seed % 3],))


def test_the_generator_covers_every_kind_not_excluded():
    """Across the default breadth's seeds every stage kind, boundary condition and pointwise op
    that no flag excludes is generated (a kind nobody draws would test nothing)."""
    excluded = default_excluded()
    kinds, modes, ops = set(), set(), set()
    for seed in range(500):
        for s in generate(seed).stages:
            kinds.add(s.kind)
            modes.add(s.args.get("mode"))
            ops.add(s.args.get("op"))
    wanted = {k for k, (flag, _) in KINDS.items() if flag not in excluded}
    assert wanted | {"bc"} <= kinds
    assert {"repeat_edge", "constant_exterior", "mirror_image", "mirror_interior"} <= modes
    assert {"sin", "select_gt", "guard_recip", "param_affine", "sum", "maximum",
            "product"} <= ops


def test_the_generator_makes_the_features_that_once_were_bugs():
    """Overwritten reads, backward and nonlinear scans and chained clamped stencils are
    generated unless their flag is excluded."""
    excluded = default_excluded()
    cases = [generate(seed) for seed in range(500)]
    stages = [s for c in cases for s in c.stages]
    if "overwritten_reads" not in excluded:
        assert any(s.kind == "multi_update" and overwritten_read(s.args["updates"])
                   for s in stages)
        assert any(s.kind == "scan" and s.args["backward"] for s in stages)
    assert any(s.kind == "scan" and s.args["nonlinear"] for s in stages)
    if "deep_clamped_chains" not in excluded:
        assert any(sum(s.kind == "stencil" and s.args["clamped"] for s in c.stages) >= 3
                   for c in cases)


def test_the_oracle_catches_a_wrong_pipeline(monkeypatch):
    """The forward check can fail: an oracle whose sin is cos rejects a pipeline with
    sin, and the message holds the seed, the schedule and the pipeline's text."""
    seed = next(s for s in range(10_000) if any(
        st.kind == "pointwise" and st.args["op"] == "sin" for st in generate(s).stages))
    monkeypatch.setitem(npeval.UNARY, "sin", np.cos)
    with pytest.raises(AssertionError, match=f"seed {seed}, schedule 'default'") as info:
        check_seed(seed, ("default",))
    assert generate(seed).text() in str(info.value)
    assert "forward output differs from NumPy" in str(info.value)


def test_the_gradient_check_catches_a_wrong_gradient(monkeypatch):
    """The gradient check can fail: finite differences taken with twice the step they
    divide by disagree with halogrid's (right) gradient."""
    moved = check._moved
    monkeypatch.setattr(check, "_moved", lambda i, n, d, step: moved(i, n, d, 2 * step))
    with pytest.raises(AssertionError, match="finite differences"):
        check_seed(0, ("default",))
