"""One test per user mistake in the algorithm: the HalogridError subclass (and the
built-in it also inherits) and a message naming the Func, the dimension and the fix.
Regexes are loose on wording and strict on facts (names, numbers)."""

import re

import numpy as np
import pytest

import halogrid as hg


def assert_mentions(exc_info, *patterns):
    message = str(exc_info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in message: {message}"


DIM = r"dim(ension)?\s*{}\b"   # "dimension 1" (or "dim 1")


def interval(lo, hi):
    return rf"\[\s*{lo}\s*,\s*{hi}\s*\]"


# ---- bounds -------------------------------------------------------------------------

def test_out_of_bounds_read_past_the_end_reports_interval_extent_and_fix():
    src = hg.Buffer(np.zeros((4, 5), np.float32), name="src")
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("shifted")
    f[y, x] = src[y, x + 1]
    with pytest.raises(hg.BoundsError) as info:
        f.realize([4, 5])
    assert isinstance(info.value, IndexError) and isinstance(info.value, hg.HalogridError)
    assert_mentions(info, "shifted", "src", DIM.format(1), interval(1, 5), r"\b5\b",
                    r"repeat_edge|BoundaryConditions")
    assert f.realize([4, 4]).shape == (4, 4)   # the same Func over a smaller output is fine


def test_out_of_bounds_read_before_the_start_reports_negative_interval():
    src = hg.Buffer(np.zeros((4, 5), np.float32), name="src")
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("lagged")
    f[y, x] = src[y - 2, x] * 2.0
    with pytest.raises(hg.BoundsError) as info:
        f.realize([4, 5])
    assert_mentions(info, "lagged", "src", DIM.format(0), interval(-2, 1), r"\b4\b",
                    r"repeat_edge|BoundaryConditions")


def test_clamp_wider_than_the_lut_reports_the_clamped_interval():
    lut = hg.Buffer(np.zeros(256, np.float32), name="lut")
    img = hg.Buffer(np.zeros((3, 3), np.float32), name="img")
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("toned")
    f[y, x] = lut[hg.clamp(hg.i32(img[y, x] * 255.0), 0, 300)]
    with pytest.raises(hg.BoundsError) as info:
        f.realize([3, 3])
    assert_mentions(info, "toned", "lut", DIM.format(0), interval(0, 300), r"\b256\b")


def test_unbounded_data_dependent_gather_asks_for_a_clamp():
    lut = hg.Buffer(np.zeros(256, np.float32), name="lut")
    img = hg.Buffer(np.zeros((3, 3), np.float32), name="img")
    y, x = hg.Var("y"), hg.Var("x")
    with pytest.raises(hg.BoundsError) as info:
        f = hg.Func("unclamped")
        f[y, x] = lut[hg.i32(img[y, x] * 255.0)]
        f.realize([3, 3])
    assert isinstance(info.value, IndexError)
    assert_mentions(info, "unclamped", "lut", DIM.format(0), r"clamp")


def test_unbounded_data_dependent_scatter_asks_for_a_clamp():
    img = hg.Buffer(np.zeros((3, 3), np.float32), name="img")
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    b = hg.Var("b")
    with pytest.raises(hg.BoundsError) as info:
        hist = hg.Func("hist_unclamped")
        hist[b] = 0
        hist[hg.i32(img[r[0], r[1]] * 63.0)] += 1
        hist.realize([64])
    assert_mentions(info, "hist_unclamped", DIM.format(0), r"clamp")


# ---- definitions --------------------------------------------------------------------

def test_calling_an_undefined_func_names_it():
    x = hg.Var("x")
    ghost = hg.Func("ghost")
    with pytest.raises(hg.DefinitionError) as info:
        f = hg.Func("user_of_ghost")
        f[x] = ghost[x] + 1
        f.realize([3])
    assert isinstance(info.value, ValueError)
    assert_mentions(info, "ghost", r"(?i)defin")


def test_realizing_an_undefined_func_names_it():
    with pytest.raises(hg.DefinitionError) as info:
        hg.Func("nothing_here").realize([3])
    assert_mentions(info, "nothing_here", r"(?i)defin")


def test_redefining_a_pure_definition_is_refused():
    x = hg.Var("x")
    f = hg.Func("twice")
    f[x] = x
    with pytest.raises(hg.DefinitionError) as info:
        f[x] = x * 2
    assert isinstance(info.value, ValueError)
    assert_mentions(info, "twice", r"(?i)pure", r"(?i)update|new Func")


def test_calling_a_func_with_the_wrong_number_of_dimensions():
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("f2d")
    f[y, x] = y + x
    with pytest.raises(hg.DefinitionError) as info:
        g = hg.Func("g1d")
        g[x] = f[x] + 1
    assert isinstance(info.value, ValueError)
    assert_mentions(info, "f2d", r"\b2\b", r"\b1\b")


def test_updating_a_func_with_the_wrong_number_of_dimensions():
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("f2d_update")
    f[y, x] = 0
    with pytest.raises(hg.DefinitionError) as info:
        f[x] += 1
    assert_mentions(info, "f2d_update", r"\b2\b", r"\b1\b")


def test_indexing_a_buffer_with_the_wrong_number_of_dimensions():
    b = hg.Buffer(np.zeros((2, 3), np.float32), name="plane")
    x = hg.Var("x")
    with pytest.raises(hg.DefinitionError) as info:
        f = hg.Func("flat")
        f[x] = b[x]
    assert_mentions(info, "plane", r"\b2\b", r"\b1\b")


def test_rdom_on_the_left_of_a_pure_definition_names_the_dimension():
    y = hg.Var("y")
    r = hg.RDom([(0, 3)], name="r")
    f = hg.Func("rpure")
    with pytest.raises(hg.DefinitionError) as info:
        f[y, r.x] = 0
    assert isinstance(info.value, ValueError)
    assert_mentions(info, "rpure", DIM.format(1), r"(?i)update")


def test_update_with_pure_vars_in_other_positions_is_refused():
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("swapped")
    f[y, x] = 0
    with pytest.raises(hg.DefinitionError) as info:
        f[x, y] += 1
    assert_mentions(info, "swapped", DIM.format("[01]"))


def test_repeated_var_on_the_left_of_a_pure_definition_is_refused():
    x = hg.Var("x")
    f = hg.Func("diag")
    with pytest.raises(hg.DefinitionError) as info:
        f[x, x] = 1
    assert_mentions(info, "diag", DIM.format(1))


def test_var_on_the_right_that_is_not_on_the_left_is_refused():
    y, x = hg.Var("y"), hg.Var("xfree")
    f = hg.Func("leaky")
    with pytest.raises(hg.DefinitionError) as info:
        f[y] = y + x
    assert_mentions(info, "leaky", "xfree")


def test_rdom_in_a_pure_definition_right_side_is_refused():
    x = hg.Var("x")
    b = hg.Buffer(np.zeros(8, np.float32), name="b")
    r = hg.RDom([(0, 3)], name="rside")
    f = hg.Func("pure_with_rdom")
    with pytest.raises(hg.DefinitionError) as info:
        f[x] = b[x + r.x]
    assert_mentions(info, "pure_with_rdom", r"(?i)update|hg\.sum")
