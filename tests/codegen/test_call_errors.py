"""Calling a compiled pipeline: inputs by name, the shapes argument, and the errors a
caller gets for a missing, unknown or malformed input or an output region that reads
outside an input. One compiled pipeline serves the whole file."""

import re

import numpy as np
import pytest

import halogrid as hg


@pytest.fixture(scope="module")
def vdiff():
    """vdiff[y, x] = src[y + 1, x] - src[y, x]: valid for outputs up to (H - 1, W)."""
    y, x = hg.Var("y"), hg.Var("x")
    src = hg.ImageParam(hg.Float(32), 2, "src")
    f = hg.Func("vdiff")
    f[y, x] = src[y + 1, x] - src[y, x]
    return hg.Pipeline([f]).compile(target="cpu")


def assert_mentions(exc_info, *patterns):
    message = str(exc_info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in message: {message}"


def test_compiled_pipeline_is_a_plain_callable_returning_numpy(vdiff, rng):
    a = rng.random((6, 4), dtype=np.float32)
    out = vdiff(src=a, shapes=[(5, 4)])
    assert callable(vdiff)
    assert type(out) is np.ndarray and out.shape == (5, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, a[1:] - a[:-1], rtol=1e-6, atol=1e-7)
    big = rng.random((9, 2), dtype=np.float32)
    np.testing.assert_allclose(vdiff(src=big, shapes=[(8, 2)]), big[1:] - big[:-1],
                               rtol=1e-6, atol=1e-7)


def test_output_region_reading_past_an_input_reports_interval_and_extent(vdiff, rng):
    a = rng.random((6, 4), dtype=np.float32)
    with pytest.raises(hg.BoundsError) as info:
        vdiff(src=a)                     # default shape (6, 4) reads rows [0, 6]
    assert isinstance(info.value, IndexError)
    assert_mentions(info, "vdiff", "src", r"dim(ension)?\s*0\b", r"\[\s*0\s*,\s*6\s*\]",
                    r"\b6\b", r"repeat_edge|BoundaryConditions")
    with pytest.raises(hg.BoundsError) as info:
        vdiff(src=a, shapes=[(5, 7)])    # columns [0, 6] of a 4-wide input
    assert_mentions(info, "src", r"dim(ension)?\s*1\b", r"\[\s*0\s*,\s*6\s*\]", r"\b4\b")
    assert vdiff(src=a, shapes=[(5, 4)]).shape == (5, 4)   # still usable afterwards


def test_wrong_input_dtype_names_input_both_dtypes_and_the_fix(vdiff):
    with pytest.raises(hg.InputError) as info:
        vdiff(src=np.zeros((3, 3), np.float64), shapes=[(2, 3)])
    assert isinstance(info.value, TypeError)
    assert_mentions(info, "src", "float32", "float64", "astype")


def test_wrong_input_ndim_names_input_and_both_ranks(vdiff):
    with pytest.raises(hg.InputError) as info:
        vdiff(src=np.zeros((3, 3, 2), np.float32), shapes=[(2, 3)])
    assert isinstance(info.value, TypeError)
    assert_mentions(info, "src", r"\b2\b", r"\b3\b")


def test_missing_input_names_it_and_shows_how_to_pass_it(vdiff):
    with pytest.raises(hg.InputError) as info:
        vdiff(shapes=[(2, 3)])
    assert_mentions(info, "src", r"src\s*=")


def test_unknown_input_name_is_refused(vdiff):
    a = np.zeros((3, 3), np.float32)
    with pytest.raises(hg.InputError) as info:
        vdiff(src=a, scr=a, shapes=[(2, 3)])
    assert_mentions(info, "scr", "src")


def test_wrong_number_of_shapes_is_refused(vdiff):
    a = np.zeros((3, 3), np.float32)
    with pytest.raises(hg.InputError) as info:
        vdiff(src=a, shapes=[(2, 3), (2, 3)])
    assert_mentions(info, r"\b1\b", r"\b2\b")


def test_bounds_symbolic_in_a_param_offset_are_checked_at_call_time(rng):
    y, x = hg.Var("y"), hg.Var("x")
    src = hg.ImageParam(hg.Float(32), 2, "src")
    off = hg.Param(hg.Int(32), "off", 0)
    f = hg.Func("shifted_by_param")
    f[y, x] = src[y, x + off]
    fn = hg.Pipeline([f]).compile(target="cpu")
    a = rng.random((3, 8), dtype=np.float32)
    for k in range(3):
        np.testing.assert_array_equal(fn(src=a, off=k, shapes=[(3, 8 - k)]), a[:, k:])
    with pytest.raises(hg.BoundsError) as info:
        fn(src=a, off=3, shapes=[(3, 6)])          # reads columns [3, 8] of 8
    assert_mentions(info, "shifted_by_param", "src", r"dim(ension)?\s*1\b",
                    r"\[\s*3\s*,\s*8\s*\]", r"\b8\b")
