"""A compiled pipeline as picklable data, for dask workers in other processes.

A ShippedPipeline holds the cache key, the generated sources and the call interface
(names, types, dimensions) of a compiled pipeline, never its Funcs. In a worker,
`callable()` finds the module in that process's memory or the on-disk cache (the same
HALOGRID_CACHE_DIR on one machine: Numba's compiled kernels load from there too), or
stores the shipped sources first (another machine); then it is a CompiledPipeline like
any other, built once per process. Nothing is lowered or generated in a worker.
"""

from __future__ import annotations

from .. import errors
from ..codegen import cache
from ..codegen.pipeline import CompiledPipeline
from ..ir.buffer import Buffer, ImageParam, Param

_LOADED: dict[str, CompiledPipeline] = {}  # per process: key -> callable
BUILDS: dict[str, int] = {}  # per process: key -> CompiledPipelines built (1 at most)


class _Output:
    """What a CompiledPipeline reads of an output Func: name, dimensions, value types."""

    def __init__(self, name: str, ndim: int, types: list):
        self.name, self._ndim, self._types = name, ndim, types

    def dimensions(self) -> int:
        return self._ndim

    def value_types(self) -> list:
        return self._types


class _Interface:
    """A stand-in Graph: the inputs, Params and outputs of the driver, in its order."""

    def __init__(self, inputs, params, outputs):
        self.inputs = [ImageParam(t, n, name) for name, t, n in inputs]
        self.params = [Param(t, name) for name, t in params]
        self.outputs = [_Output(name, n, types) for name, n, types in outputs]
        self.funcs: list = []  # no extern stages (refused when shipping)


class ShippedPipeline:
    """See the module doc; `defaults`: Buffer arrays and Param defaults, by name (a call
    binds them unless it passes its own)."""

    def __init__(self, compiled: CompiledPipeline):
        graph = compiled.graph
        if any(getattr(f, "extern", None) is not None for f in graph.funcs):
            raise errors.interop_error(
                "ship the pipeline to dask workers", "it has an extern stage, whose Python "
                "function halogrid cannot send", "Compute extern stages outside hg.dask")
        self.key = compiled.key
        self.sources = cache.entry_sources(self.key)
        self.inputs = [(str(i.name), i.type(), i.dimensions()) for i in graph.inputs]
        self.params = [(str(p.name), p.type) for p in graph.params]
        self.outputs = [(str(f.name), f.dimensions(), list(f.value_types()))
                        for f in graph.outputs]
        self.defaults = {str(i.name): i.array for i in graph.inputs if isinstance(i, Buffer)}
        self.defaults.update({str(p.name): p.value() for p in graph.params
                              if p.value() is not None})  # the stand-ins have no defaults

    def callable(self) -> CompiledPipeline:
        fn = _LOADED.get(self.key)
        if fn is None:
            hit = cache.lookup(self.key) or cache.store(self.key, *self.sources)
            fn = CompiledPipeline(_Interface(self.inputs, self.params, self.outputs), *hit)
            _LOADED[self.key] = fn
            BUILDS[self.key] = BUILDS.get(self.key, 0) + 1
        return fn
