"""Running extern stages (ir/extern.py) from the generated driver.

The driver runs the k-th extern stage of its pipeline as
    buffer = extern_k(min, extent, call_min, call_extent, *inputs)
where `extern_k` is a global of the driver module that `bind` sets when a pipeline
is compiled (the user's callable never appears in generated source), and each input
is (buffer, coordinates of its first element, box min, box extent), tuples of ints.
A Runner cuts each input's box out of its buffer (a read-only view), calls the user's
function and checks what it returns (DefinitionError naming the stage): a forward
stage's result must be exactly its call box, of the stage's dtype; a vjp stage's
chosen result must be its input's box, and lands in a zero buffer of the allocation.
The vjp stages of one extern share one call of the user's vjp per run (`_Memo`).
compile_jobs' dry run calls `Runner.dry` instead, which runs no user code.
"""

from __future__ import annotations

import numpy as np

from .. import errors
from ..ir.extern import extern_funcs

PREFIX = "extern_"


def runner_name(k: int) -> str:
    return f"{PREFIX}{k}"


def bind(module, graph) -> None:
    """Set the driver's extern globals to runners of `graph`'s extern stages."""
    stages = [f.extern for f in extern_funcs(graph.funcs)]
    memos: dict = {}
    for stage in stages:
        memo = memos.setdefault(id(stage.forward or stage), _Memo())
        memo.users += stage.kind == "vjp"
    for k, stage in enumerate(stages):
        setattr(module, runner_name(k), Runner(stage, memos[id(stage.forward or stage)]))


def runners(module) -> dict:
    """The extern globals of a driver module, by name."""
    return {n: r for n, r in vars(module).items() if n.startswith(PREFIX)}


class _Memo:
    """The results of the last vjp call of one extern, until each stage using them
    (`users` of them) took its own."""

    def __init__(self):
        self.users, self.key, self.results, self.taken = 0, None, None, 0

    def get(self, key: tuple, compute):
        if self.key is None or not _same_args(self.key, key):
            self.key, self.results, self.taken = key, compute(), 0
        results = self.results
        self.taken += 1
        if self.taken >= self.users:
            self.key, self.results = None, None
        return results


def _same_args(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y if isinstance(x, np.ndarray) else x == y
                                    for x, y in zip(a, b))


class Runner:
    def __init__(self, stage, memo: _Memo):
        self.stage, self.memo = stage, memo
        self.dtype = stage.type.dtype

    def __call__(self, alloc_min, alloc_extent, call_min, call_extent, *inputs):
        alloc_extent = _extents(alloc_extent)
        call_min, call_extent = _ints(call_min), _ints(call_extent)
        if 0 in alloc_extent or any(x <= 0 for x in call_extent):
            return np.zeros(alloc_extent, self.dtype)
        views = [_view(*inp) for inp in inputs]
        if self.stage.kind == "forward":
            result = self.stage.fn(call_min, call_extent, *_array_args(views, inputs))
            return self._fresh(self._checked(result, call_extent, "fn"), inputs)
        return self._vjp(_ints(alloc_min), alloc_extent, call_min, call_extent, views, inputs)

    def dry(self, alloc_min, alloc_extent, *rest):
        """A stand-in for compile_jobs' dry run: a buffer of the right type and shape."""
        return np.zeros(_extents(alloc_extent), self.dtype)

    def _vjp(self, alloc_min, alloc_extent, call_min, call_extent, views, inputs):
        stage = self.stage
        key = (call_min, call_extent) + tuple(x for inp in inputs for x in inp)
        args = _array_args(views[1:], inputs[1:])
        results = self.memo.get(key, lambda: stage.fn(views[0], call_min, call_extent, *args))
        if not isinstance(results, (tuple, list)) or len(results) != len(stage.inputs) - 1:
            raise errors.bad_extern_result(
                stage.forward.name, f"vjp returned {_describe(results)} for "
                f"{len(stage.inputs) - 1} input(s)", "Return a tuple with one adjoint array "
                "per input (None for an input without one)")
        out = np.zeros(alloc_extent, self.dtype)
        part = results[stage.select]
        if part is None:
            return out
        _, _, box_min, box_extent = inputs[1 + stage.select]
        part = self._checked(part, _ints(box_extent), "vjp")
        here, there = [], []
        for lo, n, blo, bn in zip(alloc_min, alloc_extent, _ints(box_min), part.shape):
            a, b = max(lo, blo), min(lo + n, blo + bn)
            if a >= b:
                return out
            here.append(slice(a - lo, b - lo))
            there.append(slice(a - blo, b - blo))
        out[tuple(here)] = part[tuple(there)]
        return out

    def _checked(self, result, shape: tuple, what: str) -> np.ndarray:
        name = (self.stage.forward or self.stage).name
        if not isinstance(result, np.ndarray):
            if result is None or not hasattr(result, "__array__"):
                raise errors.bad_extern_result(name, f"{what} returned {_describe(result)}",
                                               f"Return a NumPy array of shape {shape}")
            result = np.asarray(result)
        if result.dtype != self.dtype:
            raise errors.bad_extern_result(
                name, f"{what} returned an array of dtype {result.dtype}, the stage computes "
                f"{self.stage.type.name}", f"Return result.astype(np.{self.dtype.name}), or "
                f"declare type=hg.Float({result.dtype.itemsize * 8}) if it is meant to be that")
        if result.shape != shape:
            raise errors.bad_extern_result(
                name, f"{what} returned shape {result.shape} for the box of shape {shape}",
                "Return exactly the requested out_shape (the box starts at out_origin)")
        return result

    @staticmethod
    def _fresh(result: np.ndarray, inputs) -> np.ndarray:
        """A contiguous array that is no view of an input (an output may be this)."""
        if any(np.may_share_memory(result, inp[0]) for inp in inputs):
            return result.copy()
        return np.ascontiguousarray(result)


def _ints(values) -> tuple:
    return tuple(int(v) for v in values)


def _extents(values) -> tuple:
    """An allocation's extents as ints, an empty dimension's (negative) as 0."""
    return tuple(max(int(v), 0) for v in values)


def _array_args(views: list, inputs) -> list:
    """The user function's array arguments: each input's view, then its box min."""
    return [a for view, inp in zip(views, inputs) for a in (view, _ints(inp[2]))]


def _view(buffer: np.ndarray, origin, box_min, box_extent) -> np.ndarray:
    """The box of `buffer`, whose first element is at coordinates `origin`, read-only
    (the buffer may be the caller's input array)."""
    index = []
    for o, m, x, n in zip(origin, box_min, box_extent, buffer.shape):
        lo = int(m) - int(o)
        if lo < 0 or lo + int(x) > n:
            raise errors.InternalError(f"extern box [{m}, +{x}) outside its buffer [{o}, +{n})")
        index.append(slice(lo, lo + int(x)))
    view = buffer[tuple(index)]
    view.flags.writeable = False
    return view


def _describe(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
