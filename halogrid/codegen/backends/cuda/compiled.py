"""The callable a Pipeline compiles to for target='cuda'.

Invariants: NumPy inputs are copied to the device once per call (into buffers kept
per input and shape) and the outputs come back as NumPy arrays; when any input is a device array (a numba device array,
or any __cuda_array_interface__ producer such as a torch CUDA tensor, used zero
copy), the outputs come back as numba device arrays and nothing is synchronised.
A device array gets the same dtype/ndim InputErrors as a NumPy array. Calls on one
compiled pipeline are serialised (they share its intermediate buffers).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .... import errors
from ....ir.buffer import refuse_grad_tensor
from ... import binding, externs, profiler
from ...pipeline import CompiledPipeline
from ...target import CUDA_CHUNKS
from . import runtime


class CudaCompiledPipeline(CompiledPipeline):
    """fn(**inputs, shapes=None, stream=None): as the CPU callable, on the GPU.

    >>> fn = hg.Pipeline(blur).compile(target="cuda")
    >>> fn(inp=image)                          # NumPy in, NumPy out
    >>> fn(inp=torch_cuda_tensor, stream=torch.cuda.current_stream())  # device out
    """

    def __init__(self, graph, module, meta, fresh: bool = False):
        super().__init__(graph, module, meta, fresh)
        for name, runner in externs.runners(module).items():
            setattr(module, name, _on_host(runner))
        self.workspace = runtime.Workspace()
        self._lock = threading.Lock()

    def __call__(self, shapes=None, stream=None, **kwargs):
        with self._lock:
            self.workspace.stream = runtime.as_stream(stream)
            self._device_in = any(runtime.is_device_array(v) for v in kwargs.values())
            return self._run(shapes, kwargs)

    def profile(self, shapes=None, stream=None, **kwargs) -> list[tuple[str, int, float]]:
        """Run once, timing every kernel launch to its completion (the stream is
        synchronised after each): [(kernel name, calls, seconds)], slowest first.
        Kernels compile on their first launch, so profile a second run."""
        with self._lock, profiler.timed_kernels(self.module) as timed:
            self.workspace.stream = runtime.as_stream(stream)
            self._device_in = any(runtime.is_device_array(v) for v in kwargs.values())
            self._run(shapes, kwargs, _synchronised(self.workspace))
        return sorted(((t.name, t.calls, t.seconds) for t in timed), key=lambda r: -r[2])

    def _bind_array(self, inp, kwargs):
        value = kwargs.get(str(inp.name))
        if value is not None and runtime.is_device_array(value):
            return _bind_device_array(inp, value)
        return super()._bind_array(inp, kwargs)

    def _execute(self, args: list, shapes, check, wrap_launch):
        ws = self.workspace
        ws.fresh_outputs = self._device_in
        args = [ws.upload(i, a) if isinstance(a, np.ndarray) else a
                for i, a in enumerate(args)] + [CUDA_CHUNKS]
        launch = ws.launch if wrap_launch is None else wrap_launch(ws.launch)
        return self.module.run(*args, launch, ws.alloc, ws.fill, ws.owners, check)

    def _outputs(self, buffers, allocations, shapes, out_mins):
        if not self._device_in:
            stream = self.workspace.stream
            buffers = [b.copy_to_host(stream=stream) for b in buffers]
            stream.synchronize()
        return super()._outputs(buffers, allocations, shapes, out_mins)


def _synchronised(ws):
    """A launch wrapper timing each Timed kernel's launch until the stream is idle."""
    def wrap(base):
        def launch(timed, grid, block, args):
            start = time.perf_counter()
            base(timed.kernel, grid, block, args)
            ws.stream.synchronize()
            timed.calls += 1
            timed.seconds += time.perf_counter() - start
        return launch
    return wrap


def _bind_device_array(inp, value):
    name = str(inp.name)
    refuse_grad_tensor(name, value)
    array = runtime.device_view(value)
    if array.dtype.kind not in binding.NUMERIC_KINDS:
        raise errors.wrong_dtype(name, inp.type().name, str(array.dtype))
    if array.ndim != inp.dimensions():
        raise errors.wrong_ndim(name, inp.dimensions(), array.ndim)
    if array.dtype != inp.type().dtype:
        raise errors.wrong_dtype(name, inp.type().name, array.dtype.name)
    return array.reshape(1) if array.ndim == 0 else array


def _on_host(runner):
    """An extern stage's runner over device buffers: its inputs copied to the host,
    its result back to the device (the user's function is NumPy code)."""
    from numba import cuda

    def run(alloc_min, alloc_extent, call_min, call_extent, *inputs):
        host = [(b.copy_to_host() if runtime.is_device_array(b) else b, *rest)
                for b, *rest in inputs]
        return cuda.to_device(runner(alloc_min, alloc_extent, call_min, call_extent, *host))
    run.dry = runner.dry
    return run
