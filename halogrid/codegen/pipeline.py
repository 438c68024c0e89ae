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

from typing import TYPE_CHECKING, Sequence

from .. import config, errors
from ..ir.buffer import Buffer
from ..ir.graph import build_graph
from . import binding, cache, externs, origins
from .target import Target, get_target
from .backends.cpu import compile_jobs
from .backends.cpu import launch as launcher
from . import profiler

if TYPE_CHECKING:
    from ..ir.func import Func


class Pipeline:
    """hg.Pipeline(outputs): one or more Funcs compiled together, sharing producers.

    >>> p = hg.Pipeline([loss, d[k], d[inp]])
    >>> fn = p.auto_schedule().compile()
    >>> value, grad_k, grad_inp = fn(inp=image, k=weights, target=goal)
    """

    def __init__(self, outputs: Func | Sequence[Func]):
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self._lowered = None

    # -- inspection
    def lower(self, target: str = "cpu", deterministic: bool = False):
        """The lowered Module (loop nest, bounds, host statements, kernels) for `target`.

        Lowered again whenever the pipeline's cache key changes (a schedule set after
        the last lowering, a new definition), never stale."""
        t = get_target(target, deterministic)
        key = cache.pipeline_key(build_graph(self.outputs), t.key_text())
        if self._lowered is None or self._lowered[0] != key:
            from .lower import lower
            self._lowered = (key, lower(self.outputs, t))
        return self._lowered[1]

    def loop_nest(self) -> str:
        """The text print_loop_nest prints."""
        return self.lower().text()

    def print_loop_nest(self) -> None:
        """Print the loop nest the schedules lower to (pseudo-code, one line per loop).

        >>> hg.Pipeline([out, total]).print_loop_nest()
        """
        print(self.loop_nest())

    def source(self, target: str = "cpu", deterministic: bool = False) -> str:
        """The generated code as one text: kernels under the names the driver calls
        them by, then the driver (on disk each kernel is a file of its own).

        >>> print(hg.Pipeline(blur).source())
        """
        module = self.lower(target, deterministic)
        return _backend(module.target).module_source(module)

    @property
    def stages(self) -> list[str]:
        """Text of every Func definition in realization order (adjoints included).

        >>> print("\\n".join(hg.Pipeline(d[k]).stages))
        """
        from ..ir.printer import func_text
        return [func_text(f) for f in build_graph(self.outputs).funcs]

    def auto_schedule(self, target: str = "cpu") -> "Pipeline":
        """Schedule every unscheduled Func of the pipeline (schedule/auto.py), adjoints
        included; returns self.

        >>> fn = hg.Pipeline([loss, d[k]]).auto_schedule().compile()
        """
        get_target(target)
        from ..schedule.auto import auto_schedule
        auto_schedule(self.outputs, target)
        return self

    # -- compile and run
    def compile(self, target: str = "cpu", deterministic: bool = False) -> "CompiledPipeline":
        """Compile for `target` into fn(**inputs, shapes=None): a plain callable.

        Inputs are passed by ImageParam/Param name (Buffers default to their arrays;
        see codegen/binding.py for what is converted and what refused). `shapes` lists
        one shape per output; when omitted, a 0-D output is 0-D, the adjoint d[x] of an
        input x has x's shape, and any other output the shape of the first ImageParam
        bound. Returns one array for one output, else a tuple in output order. The
        module is cached by content (memory and disk), so compiling again is cheap;
        the kernels compile on the first call (progress on stderr when that is long).

        >>> fn = hg.Pipeline([loss, d[k], d[inp]]).compile()
        >>> value, d_k, d_inp = fn(inp=image, k=weights, target=goal)   # d_k: k's shape
        >>> blurred = hg.Pipeline(blur).compile()(inp=image, shapes=[(100, 200)])
        """
        t = get_target(target, deterministic)
        backend = _backend(t)
        if t.is_gpu:
            backend.require()
        start = time.perf_counter()
        graph = build_graph(self.outputs)
        key = cache.pipeline_key(graph, t.key_text())
        hit = cache.lookup(key)
        fresh = hit is None
        if fresh:
            lowered = self.lower(t)
            meta = {"reads": [[f.name, graph.inputs.index(inp), d]
                              for f, inp, d, _ in lowered.bounds.input_reads]}
            hit = cache.store(key, *backend.module_files(lowered), meta)
        module, meta = hit
        config.trace(1, f"compile {key}: {1e3 * (time.perf_counter() - start):.1f} ms "
                        "(Numba compiles on first call)")
        compiled = backend.compiled_class()(graph, module, meta, fresh)
        compiled.key = key  # its cache entry (hg.dask ships it to worker processes)
        return compiled

    def realize(self, shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
                target: str = "cpu", deterministic: bool = False,
                **inputs) -> np.ndarray | tuple:
        """Compile and run once: one shape for every output, or a list of shapes.

        >>> out, total = hg.Pipeline([out, total]).realize([[480, 640], []], inp=image)
        """
        shapes = None if shape is None else [shape] * len(self.outputs)  # checked by binding
        if len(self.outputs) > 1 and _is_list_of_shapes(shape):
            shapes = [tuple(s) for s in shape]
        return self.compile(target, deterministic)(shapes=shapes, **inputs)


def _elements(shapes) -> int:
    return sum(int(np.prod(s)) if s else 1 for s in shapes)


def _is_list_of_shapes(shape) -> bool:
    return isinstance(shape, (list, tuple)) and all(isinstance(s, (list, tuple)) for s in shape)


def _backend(target: Target):
    """The backend package of `target`: module_source, module_files, compiled_class."""
    if target.is_gpu:
        from .backends import cuda
        return cuda
    from .backends import cpu
    return cpu


class CompiledPipeline:
    """The callable a Pipeline compiles to. Call with inputs by name and `shapes`
    (Pipeline.compile documents both).

    >>> fn = hg.Pipeline(blur).compile()
    >>> fn(inp=image)                      # an array of image's shape
    """

    def __init__(self, graph, module, meta, fresh: bool = False):
        self.graph, self.module, self.meta = graph, module, meta
        externs.bind(module, graph)  # the user's extern functions, as driver globals
        self._precompile = fresh  # generated by this process: kernels likely uncompiled
        self.input_names = [str(i.name) for i in graph.inputs] + [str(p.name) for p in graph.params]

    def __call__(self, shapes=None, **kwargs):
        return self._run(shapes, kwargs)

    def profile(self, shapes=None, **kwargs) -> list[tuple[str, int, float]]:
        """Run once, timing every kernel: [(kernel name, calls, seconds)], slowest first.

        Kernels compile on their first call, so profile a second run. The names are
        those of Pipeline.source(): kernel_<first buffer it writes>.

        >>> fn(inp=image); fn.profile(inp=image)[:3]
        """
        with profiler.timed_kernels(self.module) as timed:
            self._run(shapes, kwargs, profiler.timing)
        return sorted(((t.name, t.calls, t.seconds) for t in timed), key=lambda r: -r[2])

    def _run(self, shapes, kwargs, wrap_launch=None):
        kwargs = dict(kwargs)
        placing = {k: kwargs.pop(k, None) for k in _WINDOW_OPTIONS}
        for name in kwargs:
            if name not in self.input_names:
                raise errors.unknown_input(name, self.input_names)
        arrays = [self._bind_array(inp, kwargs) for inp in self.graph.inputs]
        params = [self._bind_param(p, kwargs) for p in self.graph.params]
        shapes = self._output_shapes(shapes, arrays)
        windows = origins.input_windows(self.graph.inputs, arrays, placing["origins"],
                                        placing["full_shapes"])
        out_mins = origins.output_origins(self.graph.outputs, placing["out_origins"])
        extents = [int(e) for s in shapes for e in s]
        regions = [v for o, s in zip(out_mins, shapes) for v in (*o, *s)]

        def check(reads) -> None:
            if all(e > 0 for e in extents):
                self._check_reads(reads, arrays, windows)
        buffers, allocations = self._execute(arrays + params + windows + regions, shapes,
                                             check, wrap_launch)
        return self._outputs(buffers, allocations, shapes, out_mins)

    def _execute(self, args: list, shapes, check, wrap_launch):
        """Run the driver on the bound arguments: (output buffers, their windows)."""
        threads = max(numba.get_num_threads(), 1)
        args = args + [threads]
        launch = launcher.serial  # too little work to pay a thread hand-off
        if threads > 1 and _elements(shapes) >= config.parallel_min_work():
            launch = launcher.parallel(threads)
        if wrap_launch is not None:
            launch = wrap_launch(launch)
        if self._precompile:
            self._precompile = False
            if compile_jobs.available():
                compile_jobs.precompile(self.module, tuple(args), check)
        return self.module.run(*args, launch, check)

    def _bind_array(self, inp, kwargs) -> np.ndarray:
        name = str(inp.name)
        if name in kwargs:
            return binding.bind_array(inp, kwargs[name])
        if isinstance(inp, Buffer):
            return binding.bind_array(inp, inp.array)
        raise errors.missing_input(name, self.input_names)

    def _bind_param(self, p, kwargs):
        return binding.bind_param(p, kwargs, self.input_names)

    def _output_shapes(self, shapes, arrays) -> list[tuple]:
        return binding.output_shapes(self.graph, shapes, arrays)

    def _check_reads(self, reads, arrays, windows) -> None:
        inputs = self.graph.inputs
        for (consumer, input_index, dim), (lo, hi) in zip(self.meta["reads"], reads):
            if not inputs[input_index].dimensions():
                continue  # a 0-D input has one element, read at no index
            first, last = origins.window_of(windows, input_index, inputs, dim)
            if lo >= first and hi <= last:
                continue
            name = inputs[input_index].name
            if first == 0 and last == arrays[input_index].shape[dim] - 1:
                raise errors.out_of_bounds(consumer, name, dim, lo, hi, last + 1)
            raise errors.out_of_window(consumer, name, dim, lo, hi, (first, last))

    def _outputs(self, buffers, allocations, shapes, out_mins):
        results, k = [], 0
        for f, allocation, shape, start in zip(self.graph.outputs, allocations, shapes, out_mins):
            values = []
            for _ in f.value_types():
                values.append(_crop(buffers[k], allocation, shape, start))
                k += 1
            results.append(values[0] if len(values) == 1 else tuple(values))
        return results[0] if len(results) == 1 else tuple(results)


_WINDOW_OPTIONS = ("origins", "full_shapes", "out_origins")  # origins.py


def _crop(buffer: np.ndarray, allocation, shape, start) -> np.ndarray:
    """The requested region [start, start + shape) of an output buffer allocated over
    `allocation` ((min, extent) per dimension)."""
    if not shape:
        return buffer.reshape(())
    if all(lo == s and ext == n for (lo, ext), n, s in zip(allocation, shape, start)):
        return buffer
    return buffer[tuple(slice(s - lo, s - lo + n)
                        for (lo, _), n, s in zip(allocation, shape, start))]
