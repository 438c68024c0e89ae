"""Fuzz legs: `fuzz_breadth` (many seeds, run with NUMBA_DISABLE_JIT=1 in a process of
its own: .ci/run) and `fuzz_depth` (a subset of the same seeds under the real JIT).

With the JIT on, breadth items are deselected unless `-m` names fuzz_breadth (500
seeds x 3 schedules of Numba compiles would take hours); the report header says so.
"""

import numba


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz_breadth: many fuzz seeds, for NUMBA_DISABLE_JIT=1")
    config.addinivalue_line("markers", "fuzz_depth: a few fuzz seeds under the real JIT")


def _breadth_deselected(config) -> bool:
    return not numba.config.DISABLE_JIT and "fuzz_breadth" not in (config.option.markexpr or "")


def pytest_report_header(config):
    if _breadth_deselected(config):
        return ("fuzz_breadth deselected (JIT on): run it with NUMBA_DISABLE_JIT=1 python -m "
                "pytest tests/fuzz -m fuzz_breadth")
    return None


def pytest_collection_modifyitems(config, items):
    if not _breadth_deselected(config):
        return
    dropped = [i for i in items if i.get_closest_marker("fuzz_breadth")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if not i.get_closest_marker("fuzz_breadth")]
