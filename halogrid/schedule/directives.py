"""Per-Func schedule state, validated when a directive is set.

Invariant: a FuncSchedule only records choices; it never changes what a Func
computes. `compute` is None (the default decides), 'root' or 'inline'.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors


@dataclass
class FuncSchedule:
    compute: str | None = None

    def fingerprint(self) -> tuple:
        return (self.compute,)


def schedule_of(func) -> FuncSchedule:
    if func.func_schedule is None:
        func.func_schedule = FuncSchedule()
    return func.func_schedule


def compute_root(func):
    """Compute all of `func` before its consumers, into its own buffer."""
    schedule_of(func).compute = "root"
    return func


def compute_inline(func):
    """Substitute `func`'s definition into every use (pure Funcs only)."""
    if len(func.definitions) > 1:
        raise errors.schedule_error(
            func.name, "compute_inline()", "it has update definitions, which need storage",
            "Use compute_root() (or compute_at() once available)")
    schedule_of(func).compute = "inline"
    return func


def install(func_class) -> None:
    """Give Func the directive methods (kept here so ir/ knows nothing of schedules)."""
    func_class.compute_root = compute_root
    func_class.compute_inline = compute_inline
