"""Every CUDA kernel of a pipeline compiled to PTX, without a GPU: CI's check that the
generated kernels type and compile (numba-cuda's simulator runs them as Python and
checks neither).

`kernel_ptx(pipeline_or_module, cc)` -> {kernel global name: PTX text}, or a
PtxError naming every kernel that failed. Each kernel's numba signature is built
from the Module alone, as the driver (host.py) calls the kernel:
  storages  C-contiguous arrays of their element type: an input's ImageParam type and
            dimensions, an Allocate's or ExternCall's type and extents (a 0-D buffer
            is one element, 1-D, as the driver allocates and binds it), a kernel's
            scratch buffer 2-D (owner, cell);
  scalars   the numba type of a value of the Param's or Var's type after the
            runtime's launch conversion (integers of at most 32 bits become Python
            ints, int64 in the kernel; floats and bools keep their NumPy type).
The kernel's Python function is its module source with the `cuda.jit` decorator
dropped, run as a plain module; `numba.cuda.compile_ptx` types and compiles it for
compute capability `cc` (needs numba-cuda and its NVVM wheels, no GPU, and no
NUMBA_ENABLE_CUDASIM).

    python -m halogrid.codegen.backends.cuda.ptx package.module:function
compiles the pipeline that function() returns (a Pipeline, or its output Funcs) and
prints each kernel's name, compile seconds and PTX lines, or its error.
"""

from __future__ import annotations

import importlib
import re
import sys
import time
from typing import NamedTuple

from .... import errors
from ...lower import Module
from ...passes.storage import input_storage_name
from ...stmt import Allocate, ExternCall, walk
from .module import module_files
from .runtime import _plain as launch_scalar  # what Workspace.launch makes of a scalar

DECORATOR = re.compile(r"^@cuda\.jit\b[^\n]*\n", re.M)  # module.py's line above `kernel`
SM_90 = (9, 0)


class Kernel(NamedTuple):
    name: str           # the global name the driver calls it by
    source: str         # its module source (one `kernel` function)
    signature: tuple    # numba argument types, in kernel_args order


class PtxError(errors.InternalError):
    """Kernels that numba-cuda could not type or compile (each one's first lines)."""


def kernel_ptx(pipeline_or_module, cc: tuple = SM_90) -> dict[str, str]:
    """{kernel global name: PTX} of every kernel of the pipeline's CUDA module (a
    Pipeline is lowered for target 'cuda'); PtxError lists the kernels that fail."""
    found = kernels(as_module(pipeline_or_module))
    results = [try_compile(k, cc) for k in found]
    failed = [(k.name, error) for k, (_, error, _) in zip(found, results) if error]
    if failed:
        raise PtxError(failure_text(failed, len(found)))
    return {k.name: ptx for k, (ptx, _, _) in zip(found, results)}


def as_module(pipeline_or_module) -> Module:
    if isinstance(pipeline_or_module, Module):
        return pipeline_or_module
    return pipeline_or_module.lower("cuda")


def kernels(module: Module) -> list[Kernel]:
    """Each kernel of `module` with its source and signature, in launch-index order."""
    _, sources = module_files(module)
    types = storage_types(module)
    return [Kernel(name, source, signature(k, types))
            for (name, source), k in zip(sources.items(), module.kernels)]


def storage_types(module: Module) -> dict:
    """storage name -> numba array type of every buffer a kernel may take."""
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
    """The argument types of `kernel` (a CudaKernel): scalars, then storages (its
    scratch buffers are 2-D: one row of cells per owner, scratch.py)."""
    from numba import from_dtype, typeof, types

    def scalar(v):  # a value of the scalar's type as the runtime's launch passes it
        return typeof(launch_scalar(v.type.dtype.type(0)))
    arrays = dict(storage_types)
    arrays.update({sc.storage: types.Array(from_dtype(sc.type.dtype), 2, "C")
                   for sc in kernel.scratches})
    return tuple([scalar(v) for v in kernel.scalars] + [arrays[s] for s in kernel.storages])


def python_function(source: str, filename: str):
    """The module's `kernel` as a plain Python function (the decorator dropped)."""
    plain, found = DECORATOR.subn("", source, count=1)
    if not found:
        raise errors.InternalError(f"{filename}: no @cuda.jit line in its source")
    namespace: dict = {"__name__": filename}
    exec(compile(plain, filename, "exec"), namespace)
    return namespace["kernel"]


def compile_kernel(kernel: Kernel, cc: tuple = SM_90) -> str:
    from numba import cuda
    function = python_function(kernel.source, f"<halogrid cuda {kernel.name}>")
    ptx, _ = cuda.compile_ptx(function, kernel.signature, cc=cc)
    return ptx


def try_compile(kernel: Kernel, cc: tuple = SM_90) -> tuple:
    """(PTX or None, error text or None, seconds): picklable, for process pools."""
    start = time.perf_counter()
    try:
        ptx, error = compile_kernel(kernel, cc), None
    except Exception as exc:  # a typing or NVVM error is the result, not a crash
        ptx, error = None, re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")
    return ptx, error, time.perf_counter() - start


def failure_text(failed: list, total: int, lines: int = 12) -> str:
    """'n of total kernels failed' and each (name, error)'s first `lines` lines."""
    parts = [f"{len(failed)} of {total} CUDA kernels failed to compile to PTX:"]
    for name, error in failed:
        head = "\n    ".join(error.splitlines()[:lines])
        parts.append(f"  {name}: {head}")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
        return 2
    from ...pipeline import Pipeline
    module_name, func_name = argv[0].split(":")
    made = getattr(importlib.import_module(module_name), func_name)()
    pipeline = made if isinstance(made, Pipeline) else Pipeline(made)
    failed = 0
    for k in kernels(as_module(pipeline)):
        ptx, error, seconds = try_compile(k)
        failed += error is not None
        what = error.splitlines()[0] if error else f"{ptx.count(chr(10))} PTX lines"
        print(f"{k.name}  {seconds:.2f} s  {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
