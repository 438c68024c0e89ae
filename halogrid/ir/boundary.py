"""BoundaryConditions as ordinary Funcs over an input (pure, so inlined by default).

Each returns a Func defined everywhere; inside the input it equals the input. The
edges are those of the whole image (its Extent: a call's `full_shapes=`, else the
array's shape). A call may bind only a window of the image (`origins=`, which is how
hg.dask runs blocks): every coordinate a condition maps to is then clamped into that
window, so reads stay inside the array whatever the window; the values are right when
the window holds every pixel the condition maps to (hg.dask sizes windows so; without
`origins=` the window is the image and the clamp is the condition's own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .expr import Var, WindowEdge
from .ops import cast, clamp, select
from .func import Func

if TYPE_CHECKING:
    from .buffer import InputBuffer
    from .ops import ExprLike


def in_window(source, d: int, index):
    """`index` clamped into the coordinates of dimension d that source's array holds
    (an input's window; anything else has no window but its extent)."""
    from .buffer import InputBuffer
    if not isinstance(source, InputBuffer):
        return clamp(index, 0, source.extent_expr(d) - 1)
    return clamp(index, WindowEdge(source, d, "min"), WindowEdge(source, d, "max"))


def _new_boundary(source, name: str) -> tuple[Func, list[Var]]:
    """The Func '<source>_<name>' of kind 'boundary', and its Vars (one per dimension)."""
    f = Func(f"{source.name}_{name}", _kind="boundary")
    f.boundary_of = (source, name)  # what hg.dask's halos read (interop/halos.py)
    return f, [Var(f"_bc{d}") for d in range(source.dimensions())]


def _wrap(source, name: str, index_map) -> Func:
    f, dims = _new_boundary(source, name)
    f[tuple(dims)] = source[tuple(in_window(source, d, index_map(v, source.extent_expr(d)))
                                  for d, v in enumerate(dims))]
    return f


def repeat_edge(source: InputBuffer | Func) -> Func:
    """Out-of-range coordinates read the nearest edge pixel (NumPy pad mode 'edge').

    >>> clamped = hg.BoundaryConditions.repeat_edge(img)
    >>> blur[y, x] = (clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]) / 3
    """
    return _wrap(source, "repeat_edge", lambda v, n: v)


def mirror_image(source: InputBuffer | Func) -> Func:
    """Reflect about the edge, repeating the edge pixel (NumPy pad mode 'symmetric').

    >>> mirrored = hg.BoundaryConditions.mirror_image(img)
    """
    def index(v, n):
        period = 2 * n
        m = v % period
        return select(m < n, m, period - 1 - m)
    return _wrap(source, "mirror_image", index)


def mirror_interior(source: InputBuffer | Func) -> Func:
    """Reflect about the edge pixel, not repeating it (NumPy pad mode 'reflect').

    >>> mirrored = hg.BoundaryConditions.mirror_interior(img)
    """
    def index(v, n):
        period = 2 * n - 2
        m = v % select(period > 0, period, 1)
        return select(m < n, m, period - m)
    return _wrap(source, "mirror_interior", index)


def constant_exterior(source: InputBuffer | Func, value: ExprLike = 0) -> Func:
    """Out-of-range coordinates read `value` (NumPy pad mode 'constant').

    >>> padded = hg.BoundaryConditions.constant_exterior(img, 0.0)
    """
    return _constant_outside(source, value, "constant_exterior",
                             lambda d: (0, source.extent_expr(d)))


def window_exterior(source: InputBuffer, value: ExprLike = 0) -> Func:
    """Coordinates outside the window the array holds read `value` (an output adjoint
    bound as a block of a larger image contributes nothing outside the block)."""
    def limits(d: int):
        return WindowEdge(source, d, "min"), WindowEdge(source, d, "max") + 1
    return _constant_outside(source, value, "window_exterior", limits)


def _constant_outside(source, value, name: str, limits) -> Func:
    """`value` outside [lo, end) per dimension, `limits(d)` -> (lo, end)."""
    f, dims = _new_boundary(source, name)
    inside = None
    for d, v in enumerate(dims):
        lo, end = limits(d)
        cond = (v >= lo) & (v < end)
        inside = cond if inside is None else inside & cond
    clamped = tuple(in_window(source, d, v) for d, v in enumerate(dims))
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
