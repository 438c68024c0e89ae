"""Halide's default schedule: Funcs are inlined; Funcs with update definitions,
outputs and inputs are computed at root. Explicit directives win.
"""

from __future__ import annotations

from .state import func_schedule as schedule_of


def is_stored(func, outputs) -> bool:
    """True when `func` gets a buffer of its own (not inlined into its consumers)."""
    if any(func is o for o in outputs):
        return True
    if schedule_of(func).store == "at":
        return True
    choice = schedule_of(func).compute
    if choice is not None:
        return choice in ("root", "at")
    return len(func.definitions) > 1
