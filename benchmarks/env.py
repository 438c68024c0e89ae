"""Threading environment shared by every peer; imported before any peer library.

Invariant: after import, the variables below are set in ``os.environ`` (an explicit
value already in the caller's environment wins). They must be in place before torch,
jax, halide or numba are imported, because OpenMP/thread pools read them once at load.
Why PASSIVE: on these 2-vCPU VMs OpenMP's default active wait makes each parallel
call cost multiples of ~4 ms and slowed eager PyTorch 3-7x (WORKLOADS.md lessons).
"""
import os

THREADS = 2

SETTINGS = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
    "HL_NUM_THREADS": str(THREADS),
    "NUMBA_NUM_THREADS": str(THREADS),
}

for _key, _value in SETTINGS.items():
    os.environ.setdefault(_key, _value)


def snapshot():
    """The threading variables as the process actually sees them (for reports)."""
    return {key: os.environ.get(key) for key in SETTINGS}
