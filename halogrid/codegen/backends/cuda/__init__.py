"""The CUDA backend: numba-cuda kernels launched by a plain-Python host driver.

Generating source needs nothing; compiling and running need numba-cuda and a GPU or
its simulator (`require`).
"""

from .module import module_files, module_source
from .runtime import require

__all__ = ["module_files", "module_source", "require", "compiled_class"]


def compiled_class():
    from .compiled import CudaCompiledPipeline
    return CudaCompiledPipeline
