"""BoundaryConditions as ordinary Funcs over an input (pure, so inlined by default).

Each returns a Func defined everywhere; inside the input it equals the input.
"""

from __future__ import annotations

from .expr import Var
from .ops import cast, clamp, select
from .func import Func


def _wrap(source, name: str, index_map) -> Func:
    n = source.dimensions()
    dims = [Var(f"_bc{d}") for d in range(n)]
    f = Func(f"{source.name}_{name}", _kind="boundary")
    f[tuple(dims)] = source[tuple(index_map(v, source.extent_expr(d)) for d, v in enumerate(dims))]
    return f


def repeat_edge(source) -> Func:
    """Out-of-range coordinates read the nearest edge pixel."""
    return _wrap(source, "repeat_edge", lambda v, n: clamp(v, 0, n - 1))


def mirror_image(source) -> Func:
    """Reflect about the edge, repeating the edge pixel (NumPy pad mode 'symmetric')."""
    def index(v, n):
        period = 2 * n
        m = v % period
        return clamp(select(m < n, m, period - 1 - m), 0, n - 1)
    return _wrap(source, "mirror_image", index)


def mirror_interior(source) -> Func:
    """Reflect about the edge pixel, not repeating it (NumPy pad mode 'reflect')."""
    def index(v, n):
        period = 2 * n - 2
        m = v % select(period > 0, period, 1)
        return clamp(select(m < n, m, period - m), 0, n - 1)
    return _wrap(source, "mirror_interior", index)


def constant_exterior(source, value=0) -> Func:
    """Out-of-range coordinates read `value`."""
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
    """Halide's namespace of boundary conditions."""

    repeat_edge = staticmethod(repeat_edge)
    constant_exterior = staticmethod(constant_exterior)
    mirror_image = staticmethod(mirror_image)
    mirror_interior = staticmethod(mirror_interior)
