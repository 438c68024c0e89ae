"""halogrid benchmark suite: peer systems (PyTorch, JAX, Halide) side by side.

Importing this package pins the threading environment (see ``env``) before any peer
library can be imported, so every entry point (``python -m benchmarks``,
``python -m benchmarks.one``) measures under the same settings.
"""
from benchmarks import env as _env  # noqa: F401  (side effect: threading env vars)
