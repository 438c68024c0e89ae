"""Binding a compiled pipeline's call arguments: input arrays, Params, output shapes.

Invariants of what this hands to the driver: every array has its input's ndim and
exactly its input's dtype in native byte order (a big-endian array is converted, a
copy); every Param is a NumPy scalar of its type (ir/buffer.py `scalar_value`); every
output shape is a tuple of non-negative ints, one per dimension of the output. Any
other argument raises an InputError naming the input and the fix, before a kernel runs.

Default output shapes (`shapes=None`), as API.md states: a 0-D output is 0-D; the
adjoint `d[x]` of an input x (a Buffer or ImageParam) has x's shape; any other output
has the shape of the first ImageParam bound.
"""

from __future__ import annotations

import numpy as np

from .. import errors
from ..ir.buffer import Buffer, ImageParam, refuse_grad_tensor, scalar_value

NUMERIC_KINDS = "biuf"


def bind_array(inp, value) -> np.ndarray:
    """`value` (array, buffer-protocol object, CPU tensor) as the array input `inp` reads."""
    name = str(inp.name)
    refuse_grad_tensor(name, value)
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise errors.bad_input(
            name, f"a {type(value).__name__} cannot be read as a NumPy array ({exc})",
            "Pass a NumPy array, or an object with __array__ or the buffer protocol "
            "(a CUDA tensor: tensor.cpu())") from None
    if array.dtype.kind not in NUMERIC_KINDS:
        raise errors.wrong_dtype(name, inp.type().name, str(array.dtype))
    if array.ndim != inp.dimensions():
        raise errors.wrong_ndim(name, inp.dimensions(), array.ndim)
    if not array.dtype.isnative:  # Numba reads native byte order only
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype != inp.type().dtype:
        raise errors.wrong_dtype(name, inp.type().name, array.dtype.name)
    return array.reshape(1) if array.ndim == 0 else array


def bind_param(p, kwargs: dict, known: list[str]):
    """The value of Param `p`: kwargs[p.name], else its default."""
    name = str(p.name)
    value = kwargs[name] if name in kwargs else p.value()
    if value is None:
        raise errors.missing_input(name, known)
    return scalar_value(name, p.type(), value)


def output_shapes(graph, shapes, arrays: list[np.ndarray]) -> list[tuple[int, ...]]:
    """One checked shape per output of `graph`: `shapes` as given, else the defaults of
    the module doc. `arrays` are the bound inputs, in graph.inputs order."""
    outputs = graph.outputs
    if shapes is None:
        shapes = [_default_shape(graph, f, arrays) for f in outputs]
    if not isinstance(shapes, (list, tuple)) or len(shapes) != len(outputs):
        got = len(shapes) if isinstance(shapes, (list, tuple)) else 1
        raise errors.wrong_shapes(len(outputs), got)
    return [_checked_shape(f, s) for f, s in zip(outputs, shapes)]


def _checked_shape(f, shape) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple, np.ndarray)):
        raise errors.bad_output_shape(f.name, repr(shape), "a shape is a tuple of extents")
    if len(shape) != f.dimensions():
        raise errors.dimension_mismatch(f.name, f.dimensions(), len(shape), "realize")
    for dim, extent in enumerate(shape):
        if isinstance(extent, (bool, np.bool_)) or not isinstance(extent, (int, np.integer)):
            raise errors.bad_output_shape(f.name, repr(tuple(shape)),
                                          f"the extent {extent!r} of dimension {dim} is not an int")
        if extent < 0:
            raise errors.bad_output_shape(f.name, repr(tuple(shape)),
                                          f"the extent {extent} of dimension {dim} is negative")
    return tuple(int(e) for e in shape)


def _default_shape(graph, f, arrays) -> tuple[int, ...]:
    if f.dimensions() == 0:
        return ()
    primal = getattr(f, "adjoint_of", None)
    if primal is not None:
        for inp, array in zip(graph.inputs, arrays):
            if inp is primal:
                return array.shape
        if isinstance(primal, Buffer):
            return primal.shape
    first = next((a for a, i in zip(arrays, graph.inputs) if isinstance(i, ImageParam)), None)
    if first is None:
        raise errors.unknown_output_shape(f.name, "the pipeline binds no ImageParam")
    if first.ndim != f.dimensions():
        raise errors.unknown_output_shape(
            f.name, f"it has {f.dimensions()} dimension(s) and the first ImageParam bound "
            f"has {first.ndim}")
    return first.shape
