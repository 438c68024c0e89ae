"""Numba's JIT switched off for a block: a CPU module compiled and run inside it runs
its generated kernels as Python (njit is then the identity), in a fraction of their
compile time. Use it only after Numba has compiled something in the process: helpers
first imported with the JIT off would stay Python functions, which kernels can't call.
(The fuzz breadth leg runs the whole suite this way, NUMBA_DISABLE_JIT=1.)"""

import contextlib

import numba


@contextlib.contextmanager
def python_kernels():
    old = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        yield
    finally:
        numba.config.DISABLE_JIT = old
