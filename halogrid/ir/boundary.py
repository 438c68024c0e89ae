"""BoundaryConditions as ordinary Funcs over an input (pure, so inlined by default).

Each returns a Func defined everywhere; inside the input it equals the input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .expr import Var
from .ops import cast, clamp, select
from .func import Func

if TYPE_CHECKING:
    from .buffer import InputBuffer
    from .ops import ExprLike


def _wrap(source, name: str, index_map) -> Func:
    n = source.dimensions()
    dims = [Var(f"_bc{d}") for d in range(n)]
    f = Func(f"{source.name}_{name}", _kind="boundary")
    f[tuple(dims)] = source[tuple(index_map(v, source.extent_expr(d)) for d, v in enumerate(dims))]
    return f


def repeat_edge(source: InputBuffer | Func) -> Func:
    """Out-of-range coordinates read the nearest edge pixel (NumPy pad mode 'edge').

    >>> clamped = hg.BoundaryConditions.repeat_edge(img)
    >>> blur[y, x] = (clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]) / 3
    """
    return _wrap(source, "repeat_edge", lambda v, n: clamp(v, 0, n - 1))


def mirror_image(source: InputBuffer | Func) -> Func:
    """Reflect about the edge, repeating the edge pixel (NumPy pad mode 'symmetric').

    >>> mirrored = hg.BoundaryConditions.mirror_image(img)
    """
    def index(v, n):
        period = 2 * n
        m = v % period
        return clamp(select(m < n, m, period - 1 - m), 0, n - 1)
    return _wrap(source, "mirror_image", index)


def mirror_interior(source: InputBuffer | Func) -> Func:
    """Reflect about the edge pixel, not repeating it (NumPy pad mode 'reflect').

    >>> mirrored = hg.BoundaryConditions.mirror_interior(img)
    """
    def index(v, n):
        period = 2 * n - 2
        m = v % select(period > 0, period, 1)
        return clamp(select(m < n, m, period - m), 0, n - 1)
    return _wrap(source, "mirror_interior", index)


def constant_exterior(source: InputBuffer | Func, value: ExprLike = 0) -> Func:
    """Out-of-range coordinates read `value` (NumPy pad mode 'constant').

    >>> padded = hg.BoundaryConditions.constant_exterior(img, 0.0)
    """
    n = source.dimensions()
    dims = [Var(f"_bc{d}") for d in range(n)]
    inside = None
    for d, v in enumerate(dims):
        cond = (v >= 0) & (v < source.extent_expr(d))
        inside = cond if inside is None else inside & cond
    clamped = tuple(clamp(v, 0, source.extent_expr(d) - 1) for d, v in enumerate(dims))
    f = Func(f"{source.name}_constant_exterior", _kind="boundary")
    f[tuple(dims)] = select(inside, source[clamped], cast(source.type(), value))
    return f


class BoundaryConditions:
    """Halide's namespace of boundary conditions: each wraps an input (or a Func of
    known extent) in a Func defined everywhere, equal to the input inside it.

    >>> clamped = hg.BoundaryConditions.repeat_edge(img)
    """

    repeat_edge = staticmethod(repeat_edge)
    constant_exterior = staticmethod(constant_exterior)
    mirror_image = staticmethod(mirror_image)
    mirror_interior = staticmethod(mirror_interior)
