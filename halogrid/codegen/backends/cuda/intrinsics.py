"""Device functions that generated CUDA kernels import: Halide integer division and
modulo, and float rounding that keeps its float type.

Invariants: as backends/cpu/intrinsics.py for _hg_div/_hg_mod (signed operands only;
0 for a zero divisor). _hg_<exp|log|sqrt|sin|cos|tan|pow> are CUDA's math functions
(inlined device functions: no cost) with IEEE results outside their domains (NaN,
inf), which the simulator's Python math would raise for instead. _hg_<floor|ceil|round><bits>(x) has x's float type and
rounds half to even (Halide's round); NaN and infinities pass through. On a GPU they
are libdevice's functions; under numba-cuda's simulator (which runs kernels as
Python and has no libdevice) NumPy's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import config, cuda

from ..cpu import intrinsics as cpu_intrinsics


# the CPU helpers' Python source, compiled for the device
_hg_div = cuda.jit(device=True, inline=True)(getattr(cpu_intrinsics._hg_div, "py_func", cpu_intrinsics._hg_div))
_hg_mod = cuda.jit(device=True, inline=True)(getattr(cpu_intrinsics._hg_mod, "py_func", cpu_intrinsics._hg_mod))


def _device(fn):
    return cuda.jit(device=True, inline=True)(fn)


def _exp(x):
    return math.exp(x)


def _log(x):
    return math.log(x)


def _sqrt(x):
    return math.sqrt(x)


def _sin(x):
    return math.sin(x)


def _cos(x):
    return math.cos(x)


def _tan(x):
    return math.tan(x)


def _pow(a, b):
    return math.pow(a, b)


if config.ENABLE_CUDASIM:  # Python's math raises where a GPU gives NaN or inf: NumPy's
    _hg_exp, _hg_log, _hg_sqrt = np.exp, np.log, np.sqrt
    _hg_sin, _hg_cos, _hg_tan, _hg_pow = np.sin, np.cos, np.tan, np.power
else:
    _hg_exp, _hg_log, _hg_sqrt = _device(_exp), _device(_log), _device(_sqrt)
    _hg_sin, _hg_cos, _hg_tan, _hg_pow = _device(_sin), _device(_cos), _device(_tan), \
        _device(_pow)

if config.ENABLE_CUDASIM:
    _hg_floor32 = _hg_floor64 = np.floor
    _hg_ceil32 = _hg_ceil64 = np.ceil
    _hg_round32 = _hg_round64 = np.rint
else:
    from numba.cuda import libdevice

    _hg_floor32, _hg_floor64 = libdevice.floorf, libdevice.floor
    _hg_ceil32, _hg_ceil64 = libdevice.ceilf, libdevice.ceil
    _hg_round32, _hg_round64 = libdevice.rintf, libdevice.rint
