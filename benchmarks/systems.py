"""Registry of the systems measured side by side, and the plug-in interface they share.

A system is a module (imported lazily, only in the process that measures it) with:

    BUILDERS: dict[str, Builder]      workload name ("W1".."W7") -> builder
    VERSION: str                      optional, shown in the report
    UNSUPPORTED: dict[str, str]       optional, workload -> reason it is "n/a"

    Builder = Callable[[dict[str, np.ndarray]], tuple[FwdFn, GradFn]]
    FwdFn   = Callable[[dict[str, np.ndarray]], np.ndarray | tuple[np.ndarray, ...]]
    GradFn  = Callable[[dict[str, np.ndarray]], tuple[float, dict[str, np.ndarray]]]

The builder receives example inputs (the exact dict later passed to the functions,
see ``benchmarks.workloads``) and may compile; its time counts as compile time.
``fwd_fn`` returns ``out`` (W6: ``(out, hist)``); ``grad_fn`` returns the loss and one
float32 NumPy array per name in ``Workload.grad_names``, shaped like that input.
A workload missing from BUILDERS is reported "n/a" with the UNSUPPORTED reason.
"""
import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class System:
    """``module`` implements the interface; ``package`` must be importable for it."""

    name: str
    module: str
    package: str
    description: str


SYSTEMS = {
    "torch": System("torch", "benchmarks.peers.torch_impl", "torch",
                    "PyTorch CPU, eager + autograd"),
    "jax": System("jax", "benchmarks.peers.jax_impl", "jax", "JAX jit + value_and_grad"),
    "halide": System("halide", "benchmarks.peers.halide_impl", "halide",
                     "Halide 21 JIT, propagate_adjoints, Li2018 autoscheduler"),
    "halogrid": System("halogrid", "benchmarks.peers.halogrid_impl", "halogrid",
                       "halogrid (this project), Numba"),
}


class Unavailable(Exception):
    """The system cannot run here; the message says why (shown as 'not available')."""


def precheck(name, registry=SYSTEMS):
    """Cheap availability check without importing anything: None if it may run,
    else the reason it cannot (a missing module or package). ``registry``: SYSTEMS,
    or the GPU suite's (``cuda_cell.CUDA_SYSTEMS``)."""
    system = registry[name]
    for module in (system.package, system.module):
        try:
            if importlib.util.find_spec(module) is None:
                return f"not available: no module {module}"
        except (ImportError, ValueError) as err:
            return f"not available: {err}"
    return None


def load(name, registry=SYSTEMS):
    """Import the system's module; raises Unavailable if it or its package fails."""
    reason = precheck(name, registry)
    if reason:
        raise Unavailable(reason)
    try:
        return importlib.import_module(registry[name].module)
    except Exception as err:  # any import-time failure means "skip", never a crash
        raise Unavailable(f"not available: {type(err).__name__}: {err}") from err


def builder(module, workload):
    """(builder, None) for a supported workload, else (None, 'n/a: <reason>')."""
    found = getattr(module, "BUILDERS", {}).get(workload)
    if found is not None:
        return found, None
    reason = getattr(module, "UNSUPPORTED", {}).get(workload, "no builder")
    return None, f"n/a: {reason}"
