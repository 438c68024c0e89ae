"""The host versions of the helpers CUDA kernels import (intrinsics.py), under the same
names: a CUDA driver computes its bounds lets in Python, and those may round or divide
(a warp's floor(coordinate), a chunk count). Same values as the device versions."""

import numpy as np

from ..cpu.intrinsics import _hg_div, _hg_mod  # njit functions run on the host too

_hg_floor32 = _hg_floor64 = np.floor
_hg_ceil32 = _hg_ceil64 = np.ceil
_hg_round32 = _hg_round64 = np.rint
_hg_exp, _hg_log, _hg_sqrt = np.exp, np.log, np.sqrt
_hg_sin, _hg_cos, _hg_tan, _hg_pow = np.sin, np.cos, np.tan, np.power

__all__ = ["_hg_ceil32", "_hg_ceil64", "_hg_cos", "_hg_div", "_hg_exp", "_hg_floor32",
           "_hg_floor64", "_hg_log", "_hg_mod", "_hg_pow", "_hg_round32", "_hg_round64",
           "_hg_sin", "_hg_sqrt", "_hg_tan"]
