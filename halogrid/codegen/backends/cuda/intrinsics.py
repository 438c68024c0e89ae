"""Device functions that generated CUDA kernels import: Halide integer division and
modulo, and float rounding that keeps its float type.

Invariants: as backends/cpu/intrinsics.py for _hg_div/_hg_mod (signed operands only;
0 for a zero divisor). _hg_<floor|ceil|round><bits>(x) has x's float type and
rounds half to even (Halide's round); NaN and infinities pass through. On a GPU they
are libdevice's functions; under numba-cuda's simulator (which runs kernels as
Python and has no libdevice) NumPy's.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

from ..cpu import intrinsics as cpu_intrinsics


# the CPU helpers' Python source, compiled for the device
_hg_div = cuda.jit(device=True, inline=True)(getattr(cpu_intrinsics._hg_div, "py_func", cpu_intrinsics._hg_div))
_hg_mod = cuda.jit(device=True, inline=True)(getattr(cpu_intrinsics._hg_mod, "py_func", cpu_intrinsics._hg_mod))


if config.ENABLE_CUDASIM:
    _hg_floor32 = _hg_floor64 = np.floor
    _hg_ceil32 = _hg_ceil64 = np.ceil
    _hg_round32 = _hg_round64 = np.rint
else:
    from numba.cuda import libdevice

    _hg_floor32, _hg_floor64 = libdevice.floorf, libdevice.floor
    _hg_ceil32, _hg_ceil64 = libdevice.ceilf, libdevice.ceil
    _hg_round32, _hg_round64 = libdevice.rintf, libdevice.rint
