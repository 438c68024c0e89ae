"""Correctness of every measured cell against float64 oracles.

Forward oracle: ``numpy_ref`` (float64) for every workload.
Gradient oracle: ``numpy_ref`` gradients where it has them (W1, W3, "numpy64");
otherwise the PyTorch implementation run on float64 copies of the inputs ("torch64"),
an independent float64 autograd; None if torch is not installed.
Metric: rel diff of a vs reference r = max|a - r| / max|r| (scaled by the largest
reference magnitude, so entries near zero cannot blow it up); ``outliers`` is the
fraction of entries with |a - r| > OUTLIER_TOL * max|r| (nonzero only where a
float32 value lands on the other side of a floor() than the float64 one).
"""
from dataclasses import dataclass

import numpy as np

from benchmarks.peers import numpy_ref

OUTLIER_TOL = 1e-3


@dataclass
class Reference:
    fwd: tuple
    loss: float
    grads: dict  # name -> float64 array, or None when no gradient oracle exists
    grad_source: str


def _torch64_gradients(workload, inputs):
    try:
        from benchmarks.peers import torch_impl
    except ImportError:
        return None
    as64 = {k: v.astype(np.float64) for k, v in inputs.items()}
    _, grads = torch_impl.BUILDERS[workload](as64)[1](as64)
    return grads


def reference(workload, inputs):
    """The float64 forward, loss and gradients of ``workload`` on ``inputs``."""
    fwd = numpy_ref.FORWARD[workload](inputs)
    loss = numpy_ref.loss(inputs, fwd)
    fwd = fwd if isinstance(fwd, tuple) else (fwd,)
    if workload in numpy_ref.GRADIENT:
        return Reference(fwd, loss, numpy_ref.GRADIENT[workload](inputs)[1], "numpy64")
    grads = _torch64_gradients(workload, inputs)
    return Reference(fwd, loss, grads, "torch64" if grads is not None else "none")


def _check_shape(a, ref):
    if np.shape(a) != np.shape(ref):  # broadcasting would hide a transposed result
        raise ValueError(f"shape {np.shape(a)} differs from the reference {np.shape(ref)}")


def rel_diff(a, ref):
    """max|a - ref| / max|ref| (0 when both are all zero)."""
    _check_shape(a, ref)
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref))) / scale


def outliers(a, ref):
    """Fraction of entries differing by more than OUTLIER_TOL * max|ref|."""
    _check_shape(a, ref)
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.mean(np.abs(np.asarray(a, np.float64) - ref) > OUTLIER_TOL * scale))


def compare(record, arrays, ref):
    """Agreement fields of one ok cell: fwd_rel_err (max over outputs), loss_rel_err,
    grad_rel_diff / grad_outliers per gradient name and grad_rel_diff_max."""
    fwd = [arrays[f"fwd{i}"] for i in range(len(ref.fwd))]
    result = {"fwd_rel_err": max(rel_diff(a, r) for a, r in zip(fwd, ref.fwd)),
              "loss_rel_err": abs(record["loss"] - ref.loss) / abs(ref.loss),
              "grad_ref": ref.grad_source}
    if ref.grads is None:
        return result
    names = sorted(ref.grads)
    result["grad_rel_diff"] = {n: rel_diff(arrays[f"grad_{n}"], ref.grads[n]) for n in names}
    result["grad_outliers"] = {n: outliers(arrays[f"grad_{n}"], ref.grads[n]) for n in names}
    result["grad_rel_diff_max"] = max(result["grad_rel_diff"].values())
    return result
