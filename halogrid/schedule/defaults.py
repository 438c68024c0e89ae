"""Halide's default schedule: Funcs are inlined; Funcs with update definitions,
outputs and inputs are computed at root. Funcs autodiff marks `root_by_default`
(adjoints, reversed scans, duals and the tangents of root Funcs: read at many points,
so inlining would recompute them per read) are computed at root too. Explicit
directives win.
"""

from __future__ import annotations

from dataclasses import replace

from .state import FuncSchedule


def schedule_of(func) -> FuncSchedule:
    """func's effective Func-level schedule, read without recording any directive: its
    directives, with compute 'root' where none chose where a `root_by_default` Func is
    computed; a Func no directive named reads as a fresh default. Lowering only reads,
    so a compile leaves the user's Funcs as written, and the compile cache's key, which
    hashes these schedules, tells a root_by_default Func from a plain one."""
    sched = FuncSchedule() if func.func_schedule is None else func.func_schedule
    if sched.compute is None and func.root_by_default:
        return replace(sched, compute="root")
    return sched


def is_stored(func, outputs) -> bool:
    """True when `func` gets a buffer of its own (not inlined into its consumers)."""
    if any(func is o for o in outputs):
        return True
    sched = schedule_of(func)
    if sched.store == "at":
        return True
    choice = sched.compute
    if choice is not None:
        return choice in ("root", "at")
    return len(func.definitions) > 1
