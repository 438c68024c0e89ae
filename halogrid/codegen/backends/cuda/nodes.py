"""Statements only CUDA kernels have (the outliner makes them, module.py prints them)."""

from __future__ import annotations

from dataclasses import dataclass

from ....ir.expr import Var
from ....ir.types import Type
from ...stmt import Stmt


@dataclass(frozen=True)
class Barrier(Stmt):
    """cuda.syncthreads(): every thread of the block reaches it (uniform control flow)."""


@dataclass(frozen=True)
class OnFirstThread(Stmt):
    """body run by thread (0, 0, 0) of the block only."""

    body: Stmt


@dataclass(frozen=True)
class ThreadRank(Stmt):
    """rank = the thread's index in its block (x fastest), ranks = threads per block:
    what loops of kind `rank` stride by."""

    rank: Var
    ranks: Var


@dataclass(frozen=True)
class SharedAllocate(Stmt):
    """A shared-memory buffer of `cells` elements of `type`, one per block."""

    storage: str
    type: Type
    cells: int


@dataclass(frozen=True)
class Owner(Stmt):
    """var = the index of this block in the grid, or with `per_thread` of this thread
    in the grid (x fastest): the slice of a scratch buffer it owns."""

    var: Var
    per_thread: bool
