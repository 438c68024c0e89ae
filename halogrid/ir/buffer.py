"""Inputs: Buffer (a zero-copy view of a NumPy array), ImageParam (an array bound at
call time) and Param (a scalar bound at call time, with a default).

Invariant: a pipeline never reads an input's extents at compile time; they enter
expressions as Extent nodes, so one compiled pipeline serves every input size.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from typing import Sequence

import numpy as np

from .. import errors
from .expr import Call, Expr, Extent
from .func import Name, _normalise_args
from .types import INT32, Type, from_dtype

_uids = itertools.count()


class InputBuffer:
    """What Buffer and ImageParam share: a typed n-D input, called like a Func."""

    def __init__(self, type_: Type, ndim: int, name: str | None, prefix: str):
        self._type, self._ndim = type_, int(ndim)
        self.uid = next(_uids)
        self.name = Name(name if name else f"{prefix}{self.uid}")

    def type(self) -> Type:
        """The element type."""
        return self._type

    def dimensions(self) -> int:
        """The number of dimensions (the array's ndim)."""
        return self._ndim

    def value_types(self) -> list[Type]:
        """[type()], as for a Func with one value."""
        return [self._type]

    def extent_expr(self, dim: int) -> Expr:
        """The extent of dimension `dim`, as an expression evaluated at run time."""
        return Extent(self, dim)

    def __getitem__(self, key) -> Call:
        args = key if isinstance(key, tuple) else (key,)
        if len(args) != self._ndim:
            raise errors.dimension_mismatch(self.name, self._ndim, len(args), "call input")
        from .ops import i32  # Halide's rule: other integer (and bool) indices become Int(32)
        exprs = tuple(e if e.type == INT32 else i32(e) for e in _normalise_args(args, self.name))
        return Call(self, exprs, 0)

    def __repr__(self) -> str:
        return f"<hg.{type(self).__name__} '{self.name}' {self._type!r} ndim={self._ndim}>"


class Buffer(InputBuffer):
    """A concrete input: hg.Buffer(array, name=...) wraps the array without copying.

    hg.Buffer(hg.Float(32), [H, W]) allocates a zeroed array of that type and shape.
    `b[y, x]` is a load (an Expr); a compiled pipeline reads the array at call time,
    or the array passed under the Buffer's name instead.

    >>> k = hg.Buffer(np.ones((3, 3), np.float32), name="k")
    >>> blur[y, x] += img[y + r.y, x + r.x] * k[r.y + 1, r.x + 1]
    """

    def __init__(self, data: np.ndarray | Type, shape: Sequence[int] | str | None = None,
                 name: str | None = None):
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
        """The wrapped array's shape."""
        return self.array.shape

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def numpy(self) -> np.ndarray:
        """The wrapped array itself (not a copy)."""
        return self.array


class ImageParam(InputBuffer):
    """An array input of a given type and number of dimensions, bound by name when the
    compiled pipeline is called (any size: its extents are read at run time).

    The array must have exactly this dtype and ndim (a big-endian array is converted to
    native byte order, a copy); torch CPU tensors and buffer-protocol objects are read
    through NumPy, and a tensor that requires grad is refused (use hg.torch).

    >>> inp = hg.ImageParam(hg.Float(32), 2, "inp")
    >>> out[y, x] = inp[y, x] * 2
    >>> hg.Pipeline(out).compile()(inp=np.ones((480, 640), np.float32))
    """

    def __init__(self, type_: Type, dimensions: int, name: str | None = None):
        super().__init__(type_, dimensions, name, "in")

    def width(self) -> Expr:
        """The extent of the last dimension (x in NumPy order), as an expression."""
        return self.extent_expr(self._ndim - 1)

    def height(self) -> Expr:
        """The extent of the second-to-last dimension (y), as an expression."""
        return self.extent_expr(self._ndim - 2)

    def dim_extent(self, dim: int) -> Expr:
        """The extent of dimension `dim`, as an expression evaluated at run time."""
        return self.extent_expr(dim)


class Param(Expr):
    """A scalar input, bound by name at call time or taken from its default.

    >>> gain = hg.Param(hg.Float(32), "gain", 1.0)
    >>> gain.set(2.5); float(gain.value())
    2.5

    A value is converted to the Param's NumPy scalar type (`scalar_value`): numbers and
    0-D arrays or tensors only; an Int/UInt Param takes integers (an integral float such
    as 3.0 too, never 2.7) within its type's range; strings, arrays and tensors that
    require grad are refused with an InputError naming the Param.
    """

    _fields = ("ptype", "pname", "uid")

    def __new__(cls, type_: Type, name: str | None = None, value: object = None) -> "Param":
        uid = next(_uids)
        node = super().__new__(cls, type_, Name(name or f"p{uid}"), uid)
        if value is not None:
            value = scalar_value(node.pname, type_, value)
        object.__setattr__(node, "_value", value)
        return node

    @staticmethod
    def _type_of(ptype, pname, uid):
        return ptype

    @property
    def name(self) -> Name:
        """The name the Param is bound by (also callable: p.name())."""
        return self.pname

    def set(self, value: object) -> None:
        """Set the default value (checked and converted as the class doc says).

        >>> gain.set(1.5)                  # fn() without gain= now uses 1.5
        """
        object.__setattr__(self, "_value", scalar_value(self.pname, self.ptype, value))

    def value(self) -> np.generic | None:
        """The default value (a NumPy scalar of the Param's type), or None."""
        return self._value


def refuse_grad_tensor(name: str, value) -> None:
    """A torch tensor that requires grad cannot be read without detaching it."""
    if getattr(value, "requires_grad", False) is True:
        raise errors.bad_input(
            name, "it is a tensor that requires grad, and halogrid does not record "
            "autograd history", "Pass tensor.detach(), or wrap the pipeline with "
            "hg.torch.to_autograd(...) to differentiate through it")


def scalar_value(name: str, type_: Type, value):
    """`value` as a NumPy scalar of `type_`, or an InputError naming Param `name`.

    Accepts Python and NumPy numbers and 0-D arrays/tensors. Integral types take integers
    (or integral floats) within range; Bool takes bools (or 0 and 1)."""
    def fail(why: str, fix: str):
        return errors.bad_param_value(name, repr(type_), reprlib.repr(value), why, fix)

    refuse_grad_tensor(name, value)
    number = value
    if isinstance(value, (str, bytes)):
        raise fail("a string is not a number", "Pass a number, e.g. float(text)")
    if not isinstance(value, (bool, int, float, np.generic)):
        array = np.asarray(value)
        if array.ndim != 0:
            raise fail(f"it is an array of shape {array.shape}, not a scalar",
                       "Pass one number; arrays are ImageParam inputs")
        number = array.item()
    elif isinstance(value, np.generic):
        number = value.item()
    if not isinstance(number, (bool, int, float)):
        raise fail(f"a {type(number).__name__} is not a real number", "Pass an int or a float")
    return _convert(type_, number, fail)


def _convert(type_: Type, number, fail):
    if type_.is_float:
        with np.errstate(over="ignore"):
            converted = type_.dtype.type(number)
        if np.isinf(converted) and math.isfinite(number):
            raise fail(f"it is outside the range of {type_.name}", "Use a Float(64) Param")
        return converted
    if isinstance(number, float):
        if not number.is_integer():
            raise fail("it is not an integer, and a float is never truncated silently",
                       "Round it explicitly, e.g. round(value) or int(value)")
        number = int(number)
    lo, hi = type_.min_value(), type_.max_value()
    if not lo <= number <= hi:
        raise fail(f"it is outside the type's range [{lo}, {hi}]",
                   "Pass a value in range, or declare the Param with a wider type")
    return type_.dtype.type(number)
