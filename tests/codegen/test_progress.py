"""Compile progress (codegen/progress.py, reported by codegen/compile_jobs.py): kernels
compiled / total on stderr when a compile is long or a terminal watches, nothing for a
quick compile in a log, and HALOGRID_DEBUG=1 prints every kernel's compile time."""

import io
import re

import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen import progress
from halogrid.codegen.backends.cpu import compile_jobs


def _pipeline(tag: str):
    """Stages auto-scheduled into several kernels; `tag` keeps each test's module its own."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    bx = hg.Func(f"bx_{tag}")
    bx[y, x] = clamped[y, x - 1] + clamped[y, x + 1]
    by = hg.Func("by")
    by[y, x] = bx[y - 1, x] * bx[y + 1, x]
    total = hg.Func("total")
    r = hg.RDom(inp)
    total[()] = hg.f32(0)
    total[()] += by[r.x, r.y]
    return hg.Pipeline([by, total]).auto_schedule()


def _kernel_count(compiled) -> int:
    return len({id(k) for n, k in vars(compiled.module).items() if n.startswith("kernel_")})


def _run(compiled, rng):
    img = rng.random((9, 7), dtype=np.float32)
    by, total = compiled(inp=img, shapes=[(9, 7), ()])
    p = np.pad(img, 1, mode="edge")
    bx = p[:, :-2] + p[:, 2:]  # rows -1 .. H of bx
    np.testing.assert_allclose(by, bx[:-2] * bx[2:], rtol=1e-6)
    np.testing.assert_allclose(total, by.sum(dtype=np.float64), rtol=1e-5)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HALOGRID_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HALOGRID_DEBUG", raising=False)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_progress_counts_every_kernel_when_asked(fresh_cache, monkeypatch, capfd, rng, jobs):
    monkeypatch.setenv("HALOGRID_PROGRESS", "1")
    monkeypatch.setenv("HALOGRID_COMPILE_JOBS", jobs)
    monkeypatch.setattr(compile_jobs, "_usable_cpus", lambda: 2)
    compiled = _pipeline(f"on{jobs}").compile()
    _run(compiled, rng)
    err = capfd.readouterr().err
    n = _kernel_count(compiled)
    assert n >= 3
    counts = [int(m) for m in re.findall(rf"compiling kernels: (\d+)/{n} \(", err)]
    assert counts and counts[-1] < n and counts == sorted(counts), err
    assert re.search(rf"\[halogrid\] compiled {n} kernel\(s\) in \d+\.\d s", err), err
    _run(compiled, rng)  # compiled already: nothing more to say
    assert capfd.readouterr().err == ""


def test_a_quick_compile_in_a_log_prints_nothing(fresh_cache, monkeypatch, capfd, rng):
    monkeypatch.delenv("HALOGRID_PROGRESS", raising=False)
    monkeypatch.setenv("HALOGRID_PROGRESS_AFTER", "600")
    _run(_pipeline("quiet").compile(), rng)
    assert capfd.readouterr().err == ""


def test_debug_level_one_prints_each_kernels_compile_time(fresh_cache, monkeypatch, capfd, rng):
    monkeypatch.setenv("HALOGRID_DEBUG", "1")
    monkeypatch.setenv("HALOGRID_PROGRESS", "0")
    monkeypatch.setenv("HALOGRID_COMPILE_JOBS", "1")
    compiled = _pipeline("debug").compile()
    _run(compiled, rng)
    err = capfd.readouterr().err
    timed = re.findall(r"\[halogrid\] compiled (kernel_\w+) in (\d+\.\d\d) s", err)
    names = {n for n in vars(compiled.module) if n.startswith("kernel_")}
    assert {name for name, _ in timed} <= names and len(timed) == _kernel_count(compiled), err
    assert "compiling kernels" not in err


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_auto_mode_logs_only_after_the_threshold_and_at_most_once_a_second(monkeypatch):
    monkeypatch.delenv("HALOGRID_PROGRESS", raising=False)
    monkeypatch.setenv("HALOGRID_PROGRESS_AFTER", "2")
    clock, out = _Clock(), io.StringIO()
    report = progress.CompileProgress(5, stream=out, clock=clock)
    for step in (0.5, 1.0, 1.0, 0.2, 0.9):  # kernels done at 0.5, 1.5, 2.5, 2.7, 3.6 s
        clock.now += step
        report.advance()
    report.close()
    assert out.getvalue().splitlines() == [
        "[halogrid] compiling kernels: 3/5 (2.5 s)",   # 4/5 at 2.7 s: within the second
        "[halogrid] compiled 5 kernel(s) in 3.6 s"]


def test_auto_mode_stays_silent_for_a_short_compile(monkeypatch):
    monkeypatch.delenv("HALOGRID_PROGRESS", raising=False)
    monkeypatch.setenv("HALOGRID_PROGRESS_AFTER", "2")
    clock, out = _Clock(), io.StringIO()
    report = progress.CompileProgress(3, stream=out, clock=clock)
    for _ in range(3):
        clock.now += 0.5
        report.advance()
    report.close()
    assert out.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("HALOGRID_PROGRESS", raising=False)
    out = _Terminal()
    report = progress.CompileProgress(3, stream=out)
    assert report.bar is not None
    for _ in range(3):
        report.advance()
    assert report.bar.n == 3
    report.close()
    assert "halogrid: compiling kernels" in out.getvalue() and "/3" in out.getvalue()


def test_a_terminal_without_tqdm_gets_a_line_rewritten_in_place(monkeypatch):
    monkeypatch.delenv("HALOGRID_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "_tqdm_bar", lambda total, stream: None)
    out, clock = _Terminal(), _Clock()
    report = progress.CompileProgress(2, stream=out, clock=clock)
    report.advance()
    report.advance()
    report.close()
    assert out.getvalue() == ("\r[halogrid] compiling kernels: 1/2 (0.0 s)"
                              "\r[halogrid] compiling kernels: 2/2 (0.0 s)\n")


def test_off_means_silent_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("HALOGRID_PROGRESS", "0")
    out, clock = _Terminal(), _Clock()
    report = progress.CompileProgress(2, stream=out, clock=clock)
    clock.now += 10
    report.advance(2)
    report.close()
    assert out.getvalue() == ""
