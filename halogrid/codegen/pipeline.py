"""Pipeline: compile / realize / source / print_loop_nest, and argument binding.

A compiled pipeline is a plain Python callable `fn(**inputs, shapes=None)` that binds
inputs by name, checks them, evaluates the bounds, checks input reads against the
input extents, runs the Numba kernel and returns NumPy arrays (views of the kernel's
allocations when an output's allocation is larger than its requested shape).
"""

from __future__ import annotations

import time

import numba
import numpy as np

from .. import config, errors
from ..ir.buffer import Buffer, ImageParam
from ..ir.graph import build_graph
from ..ir.types import from_dtype
from . import cache
from . import launch as launcher
from . import profiler

_TARGETS = ("cpu",)


class Pipeline:
    """hg.Pipeline(outputs): one or more Funcs compiled together, sharing producers."""

    def __init__(self, outputs):
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self._lowered = None

    # -- inspection
    def lower(self):
        if self._lowered is None:
            from .lower import lower
            self._lowered = lower(self.outputs)
        return self._lowered

    def loop_nest(self) -> str:
        return self.lower().text()

    def print_loop_nest(self) -> None:
        print(self.loop_nest())

    def source(self, target: str = "cpu") -> str:
        _check_target(target)
        from .cpu import module_source
        return module_source(self.lower())

    @property
    def stages(self) -> list[str]:
        """Text of every Func definition in realization order (adjoints included)."""
        from ..ir.printer import func_text
        return [func_text(f) for f in build_graph(self.outputs).funcs]

    def auto_schedule(self, target: str = "cpu") -> "Pipeline":
        """Schedule every unscheduled Func of the pipeline (schedule/auto.py); returns self."""
        _check_target(target)
        from ..schedule.auto import auto_schedule
        auto_schedule(self.outputs, target)
        self._lowered = None
        return self

    # -- compile and run
    def compile(self, target: str = "cpu") -> "CompiledPipeline":
        _check_target(target)
        start = time.perf_counter()
        graph = build_graph(self.outputs)
        key = cache.pipeline_key(graph, target)
        hit = cache.lookup(key)
        if hit is None:
            lowered = self.lower()
            from .cpu import module_source
            meta = {"reads": [[f.name, graph.inputs.index(inp), d]
                              for f, inp, d, _ in lowered.bounds.input_reads]}
            hit = cache.store(key, module_source(lowered), meta)
        module, meta = hit
        config.trace(1, f"compile {key}: {1e3 * (time.perf_counter() - start):.1f} ms "
                        "(Numba compiles on first call)")
        return CompiledPipeline(graph, module, meta)

    def realize(self, shape=None, target: str = "cpu", **inputs):
        shapes = None if shape is None else [tuple(shape)] * len(self.outputs)
        if shape is not None and len(self.outputs) > 1 and _is_list_of_shapes(shape):
            shapes = [tuple(s) for s in shape]
        return self.compile(target)(shapes=shapes, **inputs)


def _elements(shapes) -> int:
    return sum(int(np.prod(s)) if s else 1 for s in shapes)


def _is_list_of_shapes(shape) -> bool:
    return all(isinstance(s, (list, tuple)) for s in shape)


def _check_target(target: str) -> None:
    if target not in _TARGETS:
        raise errors.InputError(
            f"Can't compile for target '{target}': known targets are {', '.join(_TARGETS)}.")


class CompiledPipeline:
    """The callable a Pipeline compiles to. Call with inputs by name and `shapes`."""

    def __init__(self, graph, module, meta):
        self.graph, self.module, self.meta = graph, module, meta
        self.input_names = [str(i.name) for i in graph.inputs] + [str(p.name) for p in graph.params]

    def __call__(self, shapes=None, **kwargs):
        return self._run(shapes, kwargs)

    def profile(self, shapes=None, **kwargs) -> list[tuple[str, int, float]]:
        """Run once, timing every kernel: [(kernel name, calls, seconds)], slowest first.

        Kernels compile on their first call, so profile a second run. The names are
        those of Pipeline.source(): kernel_<first buffer it writes>."""
        with profiler.timed_kernels(self.module) as timed:
            self._run(shapes, kwargs, profiler.timing)
        return sorted(((t.name, t.calls, t.seconds) for t in timed), key=lambda r: -r[2])

    def _run(self, shapes, kwargs, wrap_launch=None):
        for name in kwargs:
            if name not in self.input_names:
                raise errors.unknown_input(name, self.input_names)
        arrays = [self._bind_array(inp, kwargs) for inp in self.graph.inputs]
        params = [self._bind_param(p, kwargs) for p in self.graph.params]
        shapes = self._output_shapes(shapes, arrays)
        extents = [int(e) for s in shapes for e in s]
        threads = max(numba.get_num_threads(), 1)
        args = arrays + params + extents + [threads]
        launch = launcher.serial  # too little work to pay a thread hand-off
        if threads > 1 and _elements(shapes) >= config.parallel_min_work():
            launch = launcher.parallel(threads)
        if wrap_launch is not None:
            launch = wrap_launch(launch)

        def check(reads) -> None:
            if all(e > 0 for e in extents):
                self._check_reads(reads, arrays)
        buffers, windows = self.module.run(*args, launch, check)
        return self._outputs(buffers, windows, shapes)

    def _bind_array(self, inp, kwargs) -> np.ndarray:
        name = str(inp.name)
        if name in kwargs:
            value = kwargs[name]
        elif isinstance(inp, Buffer):
            value = inp.array
        else:
            raise errors.missing_input(name, self.input_names)
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.ndim != inp.dimensions():
            raise errors.wrong_ndim(name, inp.dimensions(), array.ndim)
        if from_dtype(array.dtype) != inp.type():
            raise errors.wrong_dtype(name, inp.type().name, array.dtype.name)
        return array.reshape(1) if array.ndim == 0 else array

    def _bind_param(self, p, kwargs):
        name = str(p.name)
        value = kwargs.get(name, p.value())
        if value is None:
            raise errors.missing_input(name, self.input_names)
        return p.type().dtype.type(value)

    def _output_shapes(self, shapes, arrays) -> list[tuple]:
        outputs = self.graph.outputs
        if shapes is None:
            first = next((a for a, i in zip(arrays, self.graph.inputs)
                          if isinstance(i, ImageParam)), None)
            shapes = []
            for f in outputs:
                if f.dimensions() == 0:
                    shapes.append(())
                elif first is None or first.ndim != f.dimensions():
                    raise errors.InputError(
                        f"Can't infer the shape of output '{f.name}': pass "
                        f"shapes=[...] with one shape per output.")
                else:
                    shapes.append(first.shape)
        if len(shapes) != len(outputs):
            raise errors.wrong_shapes(len(outputs), len(shapes))
        for f, s in zip(outputs, shapes):
            if len(s) != f.dimensions():
                raise errors.dimension_mismatch(f.name, f.dimensions(), len(s), "realize")
        return [tuple(int(e) for e in s) for s in shapes]

    def _check_reads(self, reads, arrays) -> None:
        for (consumer, input_index, dim), (lo, hi) in zip(self.meta["reads"], reads):
            extent = arrays[input_index].shape[dim] if self.graph.inputs[
                input_index].dimensions() else 1
            if lo < 0 or hi >= extent:
                raise errors.out_of_bounds(consumer, self.graph.inputs[input_index].name,
                                           dim, lo, hi, extent)

    def _outputs(self, buffers, windows, shapes):
        results, k = [], 0
        for f, window, shape in zip(self.graph.outputs, windows, shapes):
            values = []
            for _ in f.value_types():
                values.append(_crop(buffers[k], window, shape))
                k += 1
            results.append(values[0] if len(values) == 1 else tuple(values))
        return results[0] if len(results) == 1 else tuple(results)


def _crop(buffer: np.ndarray, window, shape) -> np.ndarray:
    if not shape:
        return buffer.reshape(())
    index = tuple(slice(-lo, -lo + n) for (lo, _), n in zip(window, shape))
    if all(lo == 0 and ext == n for (lo, ext), n in zip(window, shape)):
        return buffer
    return buffer[index]
