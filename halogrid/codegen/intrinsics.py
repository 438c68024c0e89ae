"""Numba helpers that generated code imports: Halide integer division and modulo.

Invariants: _hg_div(a, b) rounds towards -inf for b > 0 and towards +inf for b < 0
(Euclidean), _hg_mod(a, b) is in [0, |b|); both give 0 for b == 0, as Halide does.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def _hg_div(a, b):
    if b == 0:
        return a - a
    q = a // b
    if b < 0 and q * b != a:
        q += 1
    return q


@njit(cache=True, inline="always")
def _hg_mod(a, b):
    if b == 0:
        return a - a
    r = a % b
    if r < 0:
        r -= b
    return r
