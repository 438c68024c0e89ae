"""JAX on the GPU for ``python -m benchmarks --target cuda`` (the device-system
interface of ``benchmarks/cuda_cell.py``): jax_impl's jitted forwards and
``value_and_grad`` gradients on device-resident inputs (``jax.device_put`` outside the
timed calls), each call waited for with ``jax.block_until_ready``.

``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (unless set by the caller): XLA then allocates
what it uses instead of 75% of the GPU up front, so its ``peak_bytes_in_use`` is
comparable with the other systems' peaks. That statistic cannot be reset, so a
cell's sizes run in ascending order and each size's peak is the peak so far.
Matmuls and convolutions run at float32 ("highest") precision, not TF32.
"""
import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402

from benchmarks.peers import jax_impl  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")
VERSION = jax.__version__
MEMORY = "XLA peak_bytes_in_use since the process started"


def _builder(forward, grad_names):
    def build(example):
        return jax_impl.jitted(forward, grad_names)
    return build


BUILDERS = {name: _builder(f, WORKLOADS[name].grad_names)
            for name, f in jax_impl.FORWARDS.items()}


def check():
    """None if JAX runs on a GPU, else why not."""
    platform = jax.devices()[0].platform
    if platform in ("gpu", "cuda"):
        return None
    return f"not available: jax {jax.__version__} has no GPU backend (it runs on {platform})"


def to_device(inputs):
    return jax.block_until_ready({name: jax.device_put(a) for name, a in inputs.items()})


def wait(result):
    return jax.block_until_ready(result)


def memory_reset():
    """XLA's peak cannot be reset (see the module docstring)."""


def memory_peak():
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")
