"""One test per schedule mistake: refused with a ScheduleError whose message names
the directive, the Func, why, and the fix. None of these compiles a kernel."""

import re

import pytest

import halogrid as hg

x, y, u = hg.Var("x"), hg.Var("y"), hg.Var("u")


def _recursive_filter():
    inp = hg.ImageParam(hg.Float(32), 1, "inp")
    r = hg.RDom([(1, inp.width() - 1)])
    f = hg.Func("iir")
    f[x] = inp[x]
    f[r] = f[r - 1] * 0.5 + inp[r]
    return f, r


def _raises(fn, *patterns):
    with pytest.raises(hg.ScheduleError) as info:
        fn()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    return message


def test_parallel_over_a_racing_rvar_of_a_non_associative_update_is_refused():
    f, r = _recursive_filter()
    _raises(lambda: f.update(0).parallel(r.x),
            r"Can't apply parallel\(r\w*\.x\) to Func 'iir'", "iir\\[r\\w*\\.x - 1\\]",
            "would race", "rfactor|atomic")


def test_parallel_over_a_pure_var_read_at_another_location_is_refused():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    f = hg.Func("cumsum_rows")
    f[y, x] = inp[y, x]
    f[y, x] = f[y - 1, x] + f[y, x]
    f.update(0).parallel(x)  # columns are independent: allowed
    _raises(lambda: f.update(0).parallel(y), "parallel\\(y\\)", "cumsum_rows\\[y - 1, x\\]",
            "race")


def test_parallel_over_a_scatter_rvar_that_is_not_a_reduction_is_refused():
    inp = hg.ImageParam(hg.Int(32), 1, "inp")
    r = hg.RDom([(0, inp.width())])
    last = hg.Func("last_seen")
    last[x] = -1
    last[hg.clamp(inp[r], 0, 9)] = r.x
    _raises(lambda: last.update(0).parallel(r.x), "last_seen", "may write the same location",
            "atomic")


def test_unknown_loop_variable_is_refused_and_the_loops_are_listed():
    f = hg.Func("f")
    f[y, x] = x + y
    _raises(lambda: f.split(hg.Var("z"), "zo", "zi", 4), "split\\(z, zo, zi, 4\\)",
            "has no loop variable 'z'", "outermost first: y, x")


def test_splitting_a_reduction_variable_of_a_non_associative_update_is_refused():
    f, r = _recursive_filter()
    _raises(lambda: f.update(0).split(r.x, "ro", "ri", 8), "not associative",
            "Split a pure variable")


def test_reordering_dependent_reduction_loops_of_a_non_associative_update_is_refused():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(1, 7), (1, 7)])
    f = hg.Func("sat")
    f[y, x] = inp[y, x]
    f[r.x, r.y] = f[r.x - 1, r.y] + f[r.x, r.y - 1]
    _raises(lambda: f.update(0).reorder(r.x, r.y), "carry dependencies", "order must stay")


def test_vectorize_and_unroll_of_a_non_constant_extent_need_a_factor():
    f = hg.Func("f")
    f[y, x] = x + y
    _raises(lambda: f.vectorize(x), "vectorize\\(x\\)", "no constant extent",
            "vectorize\\(x, 8\\)")
    _raises(lambda: f.unroll(y), "unroll\\(y\\)", "no constant extent")
    f.split(x, "xo", "xi", 4).unroll("xi")  # a split's inner loop has a constant extent


def test_rfactor_and_atomic_need_an_associative_update():
    f, r = _recursive_filter()
    _raises(lambda: f.update(0).rfactor(r.x, u), "rfactor", "not an associative update")
    m = hg.Func("running_max")
    rr = hg.RDom([(0, 8)])
    m[x] = 0.0
    m[x] = hg.max(m[x], hg.f32(rr.x))
    _raises(lambda: m.update(0).atomic(), "atomic\\(\\)", "add/subtract", "rfactor")


def test_compute_at_a_loop_that_does_not_exist_is_refused_at_compile_time():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    g = hg.Func("g")
    g[y, x] = inp[y, x] * 2.0
    f = hg.Func("f")
    f[y, x] = g[y, x] + 1.0
    g.compute_at(f, hg.Var("xo"))  # f may still gain an xo loop by a later split
    _raises(lambda: hg.Pipeline([f]).compile(), "compute_at\\(f, xo\\)", "Func 'g'",
            "no loop 'xo'", "outermost first: y, x")


def test_compute_at_a_consumer_that_is_not_its_only_user_is_refused():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    g = hg.Func("g")
    g[y, x] = inp[y, x] * 2.0
    a, b = hg.Func("a"), hg.Func("b")
    a[y, x] = g[y, x] + 1.0
    b[y, x] = g[y, x] - 1.0
    g.compute_at(a, y)
    _raises(lambda: hg.Pipeline([a, b]).compile(), "also used by b", "compute_root")


def test_directives_chain_and_update_index_is_checked():
    f = hg.Func("f")
    f[x] = x
    f[x] += 1
    assert f.split(x, "xo", "xi", 4).parallel("xo") is f
    stage = f.update(0)
    assert stage.vectorize(x, 4).parallel(x) is stage
    _raises(lambda: f.update(1), "update\\(1\\)", "1 update definition")
