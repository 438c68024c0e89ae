"""One row per math function: arity, NumPy impl, Numba CPU/CUDA spelling,
interval rule; its derivative is the row of the same name in autodiff/rules.py.

Interval rules (`monotonic`, read by ir/interval.py), for one-argument rows:
'up' (non-decreasing: the ends map to the ends), 'down' (non-increasing: swapped),
'valley' (non-increasing up to 0, non-decreasing after: the minimum is at the point of
the interval closest to 0, the maximum at an end), 'bounded:LO:HI' (every value lies
in [LO, HI]), 'none' (no bound is known).

Invariants: every row's `cpu` and `cuda` templates are format strings over the
already-emitted argument texts `{0}`, `{1}`; a function whose `float_only` flag is
set receives float arguments (ops.py casts ints to Float(32) first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Intrinsic:
    name: str
    arity: int
    numpy: Callable
    cpu: str
    cuda: str
    monotonic: str  # 'up', 'down', 'valley', 'bounded:LO:HI' or 'none' (module doc)
    float_only: bool = True


def _row(name, arity, numpy_fn, cpu, cuda=None, monotonic="none", float_only=True):
    return Intrinsic(name, arity, numpy_fn, cpu, cuda or cpu, monotonic, float_only)


TABLE: dict[str, Intrinsic] = {row.name: row for row in [
    _row("exp", 1, np.exp, "math.exp({0})", monotonic="up"),
    _row("log", 1, np.log, "math.log({0})", monotonic="up"),
    _row("sqrt", 1, np.sqrt, "math.sqrt({0})", monotonic="up"),
    _row("sin", 1, np.sin, "math.sin({0})", monotonic="bounded:-1:1"),
    _row("cos", 1, np.cos, "math.cos({0})", monotonic="bounded:-1:1"),
    _row("tan", 1, np.tan, "math.tan({0})"),
    _row("tanh", 1, np.tanh, "math.tanh({0})", monotonic="up"),
    _row("atan2", 2, np.arctan2, "math.atan2({0}, {1})",
         monotonic=f"bounded:{-math.pi!r}:{math.pi!r}"),
    _row("pow", 2, np.power, "({0} ** {1})", "math.pow({0}, {1})"),
    _row("floor", 1, np.floor, "np.floor({0})", "math.floor({0})", monotonic="up"),
    _row("ceil", 1, np.ceil, "np.ceil({0})", "math.ceil({0})", monotonic="up"),
    _row("round", 1, np.rint, "np.rint({0})", "math.rint({0})", monotonic="up"),
    _row("abs", 1, np.abs, "abs({0})", monotonic="valley", float_only=False),
]}


def lookup(name: str) -> Intrinsic:
    return TABLE[name]
