"""Inputs: Buffer (a zero-copy view of a NumPy array), ImageParam (an array bound at
call time) and Param (a scalar bound at call time, with a default).

Invariant: a pipeline never reads an input's extents at compile time; they enter
expressions as Extent nodes, so one compiled pipeline serves every input size.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import errors
from .expr import Call, Expr, Extent
from .func import Name
from .ops import to_expr
from .types import Type, from_dtype

_uids = itertools.count()


class InputBuffer:
    """What Buffer and ImageParam share: a typed n-D input, called like a Func."""

    def __init__(self, type_: Type, ndim: int, name: str | None, prefix: str):
        self._type, self._ndim = type_, int(ndim)
        self.uid = next(_uids)
        self.name = Name(name if name else f"{prefix}{self.uid}")

    def type(self) -> Type:
        return self._type

    def dimensions(self) -> int:
        return self._ndim

    def value_types(self) -> list[Type]:
        return [self._type]

    def extent_expr(self, dim: int) -> Expr:
        return Extent(self, dim)

    def __getitem__(self, key) -> Call:
        args = key if isinstance(key, tuple) else (key,)
        if len(args) != self._ndim:
            raise errors.dimension_mismatch(self.name, self._ndim, len(args), "call input")
        from .ops import i32
        exprs = tuple(to_expr(a) for a in args)
        exprs = tuple(e if e.type.is_int else i32(e) for e in exprs)
        return Call(self, exprs, 0)

    def __repr__(self) -> str:
        return f"<hg.{type(self).__name__} '{self.name}' {self._type!r} ndim={self._ndim}>"


class Buffer(InputBuffer):
    """A concrete input: hg.Buffer(array, name=...) wraps the array without copying.

    hg.Buffer(hg.Float(32), [H, W]) allocates a zeroed array of that type and shape.
    """

    def __init__(self, data, shape=None, name: str | None = None):
        if isinstance(data, Type):
            array = np.zeros(tuple(shape or ()), dtype=data.dtype)
        else:
            if isinstance(shape, str) and name is None:
                name = shape
            array = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.array = array
        super().__init__(from_dtype(array.dtype), array.ndim, name, "b")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def numpy(self) -> np.ndarray:
        return self.array


class ImageParam(InputBuffer):
    """An array input bound by name when the compiled pipeline is called."""

    def __init__(self, type_: Type, dimensions: int, name: str | None = None):
        super().__init__(type_, dimensions, name, "in")

    def width(self) -> Expr:
        return self.extent_expr(self._ndim - 1)

    def height(self) -> Expr:
        return self.extent_expr(self._ndim - 2)

    def dim_extent(self, dim: int) -> Expr:
        return self.extent_expr(dim)


class Param(Expr):
    """A scalar input: hg.Param(hg.Float(32), "gain", 1.0). Bound by name at call time."""

    _fields = ("ptype", "pname", "uid")

    def __new__(cls, type_: Type, name: str | None = None, value=None):
        uid = next(_uids)
        node = super().__new__(cls, type_, Name(name or f"p{uid}"), uid)
        object.__setattr__(node, "_value", value)
        return node

    @staticmethod
    def _type_of(ptype, pname, uid):
        return ptype

    @property
    def name(self) -> Name:
        return self.pname

    def set(self, value) -> None:
        object.__setattr__(self, "_value", value)

    def value(self):
        return self._value
