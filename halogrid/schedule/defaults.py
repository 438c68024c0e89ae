"""Halide's default schedule: Funcs are inlined; Funcs with update definitions,
outputs and inputs are computed at root. Explicit directives win.
"""

from __future__ import annotations

from .state import FuncSchedule


def schedule_of(func) -> FuncSchedule:
    """func's directives, read without recording any: a Func no directive named has
    none, and reads as a fresh default. Lowering only reads, so a compile leaves the
    user's Funcs as written (the compile cache's key hashes their schedules)."""
    return FuncSchedule() if func.func_schedule is None else func.func_schedule


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
