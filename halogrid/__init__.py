"""halogrid: Halide-style image pipelines with automatic adjoints, compiled by Numba.

The public names of the API contract, re-exported only.
"""

__version__ = "0.1.0"

from . import config as _config  # noqa: F401,E402 - picks the threading layer before numba loads

from .errors import (BoundsError, DefinitionError, DifferentiationError, HalogridError,  # noqa: F401
                     InputError, InternalError, ScheduleError, TypeMismatchError)
from .errors import GradientCheckError  # noqa: F401
from .ir.types import Bool, Float, Int, Type, UInt  # noqa: F401
from .ir.expr import Expr, Var  # noqa: F401
from .ir.ops import (abs, atan2, cast, ceil, clamp, cos, exp, f32, f64, floor, i32,  # noqa: F401
                     lerp, log, max, min, pow, round, select, sin, sqrt, tan, tanh)
from .ir.func import Func, RDom, Range  # noqa: F401
from .ir.reductions import maximum, minimum, product, sum  # noqa: F401
from .ir.buffer import Buffer, ImageParam, Param  # noqa: F401
from .ir.boundary import BoundaryConditions  # noqa: F401
from .ir.extern import extern  # noqa: F401
from .codegen.pipeline import Pipeline  # noqa: F401
from .autodiff.reverse import Derivative, propagate_adjoints  # noqa: F401
from .autodiff.custom import custom_adjoint  # noqa: F401
from .autodiff.forward import Tangents, propagate_tangents  # noqa: F401
from .autodiff.check import GradientReport  # noqa: F401
from .api import check_gradients, gradients  # noqa: F401
from . import api as _api
from .schedule import directives as _directives

_directives.install(Func)  # ir/ knows nothing of schedules or codegen: the methods that
_api.install(Func)         # schedule and compile are installed here
del _directives, _api

_INTEROP = ("torch", "dask")  # hg.torch, hg.dask: imported on first use, never by the core


def __getattr__(name: str):
    if name in _INTEROP:
        import importlib
        module = importlib.import_module(f".interop.{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'halogrid' has no attribute '{name}'")
