"""Scalar types, their NumPy dtypes, and Halide's promotion rules.

`match_types` is the one place where implicit promotion happens; expression
constructors assume types already match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import errors


@dataclass(frozen=True)
class Type:
    """A scalar type: code is 'int', 'uint', 'float' or 'bool'; bits its width.

    Made by hg.Int/UInt/Float/Bool; `t.dtype` is its NumPy dtype.

    >>> hg.Float(32).dtype
    dtype('float32')
    """

    code: str
    bits: int

    def __call__(self) -> "Type":
        """Halide spells it `p.type()`; expression nodes hold it as `e.type`: both work."""
        return self

    def __repr__(self) -> str:
        return {"int": "hg.Int({})", "uint": "hg.UInt({})", "float": "hg.Float({})"}.get(
            self.code, "hg.Bool()").format(self.bits)

    @property
    def is_float(self) -> bool:
        return self.code == "float"

    @property
    def is_int(self) -> bool:
        return self.code in ("int", "uint")

    @property
    def is_bool(self) -> bool:
        return self.code == "bool"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("bool" if self.is_bool else f"{self.code}{self.bits}")

    @property
    def name(self) -> str:
        return self.dtype.name

    def min_value(self):
        return _limits(self)[0]

    def max_value(self):
        return _limits(self)[1]


def _limits(t: Type):
    if t.is_float:
        return float(-np.inf), float(np.inf)
    if t.is_bool:
        return 0, 1
    info = np.iinfo(t.dtype)
    return int(info.min), int(info.max)


def Int(bits: int = 32) -> Type:
    """The signed integer type of `bits` bits (8, 16, 32 or 64).

    >>> hist = hg.Func("hist"); hist[x] = hg.cast(hg.Int(32), 0)
    """
    _check_bits("Int", bits, (8, 16, 32, 64))
    return Type("int", bits)


def UInt(bits: int = 32) -> Type:
    """The unsigned integer type of `bits` bits (8, 16, 32 or 64).

    >>> img = hg.ImageParam(hg.UInt(8), 2, "img")   # an 8-bit image
    """
    _check_bits("UInt", bits, (8, 16, 32, 64))
    return Type("uint", bits)


def Float(bits: int = 32) -> Type:
    """The floating-point type of `bits` bits (32 or 64).

    >>> inp = hg.ImageParam(hg.Float(32), 2, "inp")
    """
    _check_bits("Float", bits, (32, 64))
    return Type("float", bits)


def Bool() -> Type:
    """The boolean type (comparisons have it; a NumPy bool array is a Bool input).

    >>> mask = hg.ImageParam(hg.Bool(), 2, "mask")
    """
    return Type("bool", 1)


def _check_bits(kind: str, bits: int, allowed) -> None:
    if bits not in allowed:
        raise errors.type_mismatch(f"make type {kind}({bits})", f"{bits} bits is unsupported",
                                   f"Use one of {list(allowed)}")


def from_dtype(dtype) -> Type:
    """The halogrid Type of a NumPy dtype (refusing complex/object/etc.)."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return Bool()
    if dt.kind in "iuf" and dt.itemsize * 8 in (8, 16, 32, 64):
        code = {"i": "int", "u": "uint", "f": "float"}[dt.kind]
        if code == "float" and dt.itemsize < 4:
            raise errors.type_mismatch(f"use dtype {dt}", "float16 is unsupported", "Use float32")
        return Type(code, dt.itemsize * 8)
    raise errors.type_mismatch(f"use dtype {dt}", "halogrid supports bool, int, uint and float",
                               "Convert the array")


FLOAT32 = Float(32)
INT32 = Int(32)
BOOL = Bool()


def match_types(a_type: Type, b_type: Type, a_is_literal: bool = False,
                b_is_literal: bool = False) -> Type:
    """The common type of a binary operation, following Halide's rules.

    1. equal types stay; 2. float beats non-float; 3. wider float wins;
    4. a Python literal takes the other side's type (a float literal meeting an int
    expression becomes Float(32)); 5./6. same signedness widens; 7. mixed signedness
    becomes signed with the larger width. Bools take the other side's type.
    """
    if a_type == b_type:
        return a_type
    if a_is_literal != b_is_literal:
        lit, other = (a_type, b_type) if a_is_literal else (b_type, a_type)
        if lit.is_float and not other.is_float:
            return lit
        return other
    if a_type.is_float or b_type.is_float:
        if a_type.is_float and b_type.is_float:
            return a_type if a_type.bits >= b_type.bits else b_type
        return a_type if a_type.is_float else b_type
    if a_type.is_bool or b_type.is_bool:
        return b_type if a_type.is_bool else a_type
    if a_type.code == b_type.code:
        return a_type if a_type.bits >= b_type.bits else b_type
    return Int(max(a_type.bits, b_type.bits))
