"""Every CUDA kernel of a pipeline compiled to PTX, without a GPU (CI's check that the
generated kernels type and compile, which the simulator does not check).

`kernel_ptx(pipeline_or_module, cc)` -> {kernel global name: PTX text}. Each kernel's
numba signature is built from the Module alone, as the driver (host.py) calls it:
  storages  C-contiguous arrays of their element type: an input's ImageParam type and
            dimensions, an Allocate's or ExternCall's type and extents (a 0-D buffer
            is one element: 1-D, as the driver allocates and binds it);
  scalars   a Var is int64 (the driver computes bounds and loop vars as Python ints,
            THREADS included), a Param its NumPy type (binding.bind_param).
The kernel's Python function is its module source with the `cuda.jit` decorator
dropped, executed as a plain module; `numba.cuda.compile_ptx` then types and
compiles it for compute capability `cc` (needs numba-cuda and the NVVM wheels, no
GPU, no NUMBA_ENABLE_CUDASIM).

    python -m halogrid.codegen.backends.cuda.ptx module:function
compiles the pipeline `function()` returns (a Pipeline or its outputs) and prints one
line per kernel: its name, seconds, PTX lines.
"""

from __future__ import annotations

import importlib
import sys
import time

from ....ir.buffer import Param
from ...lower import Module
from ...passes.storage import input_storage_name
from ...stmt import Allocate, ExternCall, walk
from .module import module_files

DECORATOR = "@cuda.jit(cache=True)\n"


def kernel_ptx(pipeline_or_module, cc: tuple = (9, 0)) -> dict[str, str]:
    """{kernel global name: PTX} of every kernel of the CUDA module (see module doc);
    a Pipeline is lowered for target 'cuda' first."""
    return {name: compile_kernel(source, sig, cc, name)
            for name, source, sig in kernels(as_module(pipeline_or_module))}


def as_module(pipeline_or_module) -> Module:
    if isinstance(pipeline_or_module, Module):
        return pipeline_or_module
    return pipeline_or_module.lower("cuda")


def kernels(module: Module) -> list[tuple]:
    """(global name, module source, numba signature) of each kernel of `module`."""
    _, sources = module_files(module)
    types = storage_types(module)
    return [(name, source, signature(k, types))
            for (name, source), k in zip(sources.items(), module.kernels)]


def storage_types(module: Module) -> dict:
    """storage name -> numba array type of every buffer a kernel may take as argument."""
    from numba import from_dtype, types
    found = {input_storage_name(i): (i.type().dtype, i.dimensions())
             for i in module.graph.inputs}
    for s in walk(module.host):
        if isinstance(s, Allocate):
            found[s.storage] = (s.type.dtype, len(s.extents))
        elif isinstance(s, ExternCall):
            found[s.storage] = (s.type.dtype, len(s.extent))
    return {name: types.Array(from_dtype(dtype), max(ndim, 1), "C")
            for name, (dtype, ndim) in found.items()}


def signature(kernel, storage_types: dict) -> tuple:
    """The argument types of `kernel` (a CudaKernel) in kernel_args order."""
    from numba import from_dtype, types
    scalars = [from_dtype(v.type.dtype) if isinstance(v, Param) else types.int64
               for v in kernel.scalars]
    return tuple(scalars + [storage_types[s] for s in kernel.storages])


def python_function(source: str, filename: str):
    """The module's `kernel` as a plain Python function (the decorator dropped)."""
    if DECORATOR not in source:
        raise ValueError(f"{filename}: no {DECORATOR.strip()} line in the kernel source")
    namespace: dict = {"__name__": filename}
    exec(compile(source.replace(DECORATOR, "", 1), filename, "exec"), namespace)
    return namespace["kernel"]


def compile_kernel(source: str, sig: tuple, cc: tuple, name: str = "kernel") -> str:
    from numba import cuda
    ptx, _ = cuda.compile_ptx(python_function(source, f"<halogrid cuda {name}>"), sig, cc=cc)
    return ptx


def _timed(module: Module, cc: tuple) -> list[tuple]:
    """(name, seconds, PTX lines) per kernel."""
    rows = []
    for name, source, sig in kernels(module):
        start = time.perf_counter()
        ptx = compile_kernel(source, sig, cc, name)
        rows.append((name, time.perf_counter() - start, ptx.count("\n")))
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
        return 2
    from ...pipeline import Pipeline
    module_name, func_name = argv[0].split(":")
    made = getattr(importlib.import_module(module_name), func_name)()
    pipeline = made if isinstance(made, Pipeline) else Pipeline(made)
    for name, seconds, lines in _timed(as_module(pipeline), (9, 0)):
        print(f"{name}  {seconds:.2f} s  {lines} PTX lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
