"""The CPU backend: numba.njit kernels, a plain-Python driver, a thread-pool launcher."""

from .module import module_files, module_source

__all__ = ["module_files", "module_source", "compiled_class"]


def compiled_class():
    from ...pipeline import CompiledPipeline
    return CompiledPipeline
