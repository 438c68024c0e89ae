"""Shared gradient-checking tools for the autodiff tests.

`GradFn` compiles a loss together with the adjoints of chosen inputs into ONE
Pipeline (ImageParam/Param inputs), so the same compiled callable serves the
analytic gradients and every finite-difference evaluation of the loss.

`check_grads` is JAX's check: central differences in float64 along random
directions v, compared with <grad, v>. For a non-scalar output seeded with an
output adjoint u (a VJP), the same comparison is the inner-product identity
<u, J v> == <J^T u, v>.
"""

from __future__ import annotations

import numpy as np

import halogrid as hg

F64 = hg.Float(64)


def _shape_of(obj, inputs: dict) -> tuple:
    if isinstance(obj, hg.Param):
        return ()
    name = str(obj.name)
    if name in inputs:
        return np.shape(inputs[name])
    if isinstance(obj, hg.Buffer):
        return obj.shape
    raise KeyError(f"no value for input '{name}'")


class GradFn:
    """loss and d[w] for each w in `wrt`, compiled once.

    `out_shape` is the loss's output shape (() for a 0-D loss). `seed` is the output
    adjoint of a non-scalar loss: an hg.Buffer, which may be rebound by name per call.
    `extra` are more Funcs (e.g. d[f, i]) realized with `extra_shapes`.
    """

    def __init__(self, loss, wrt, out_shape=(), seed=None, extra=(), extra_shapes=()):
        self.loss, self.wrt, self.out_shape = loss, list(wrt), tuple(out_shape)
        self.seed = seed
        self.d = hg.propagate_adjoints(loss) if seed is None else hg.propagate_adjoints(loss, seed)
        self.extra, self.extra_shapes = list(extra), [tuple(s) for s in extra_shapes]
        outputs = [loss] + [self.d[w] for w in self.wrt] + [self.resolve(e) for e in self.extra]
        self.fn = hg.Pipeline(outputs).compile()

    def resolve(self, e):
        """Extra outputs may be given as callables of the Derivative."""
        return e(self.d) if callable(e) and not isinstance(e, hg.Func) else e

    def __call__(self, inputs: dict):
        """(loss value, [gradients], [extra outputs])."""
        shapes = [self.out_shape] + [_shape_of(w, inputs) for w in self.wrt] + self.extra_shapes
        res = self.fn(shapes=shapes, **inputs)
        res = res if isinstance(res, tuple) else (res,)
        n = 1 + len(self.wrt)
        return res[0], list(res[1:n]), list(res[n:])

    def value(self, inputs: dict) -> np.ndarray:
        shapes = [self.out_shape] + [_shape_of(w, inputs) for w in self.wrt] + self.extra_shapes
        res = self.fn(shapes=shapes, **inputs)
        return np.asarray(res[0] if isinstance(res, tuple) else res, dtype=np.float64)


def _perturbed(inputs: dict, names, direction: dict, step: float) -> dict:
    moved = dict(inputs)
    for name in names:
        base = np.asarray(inputs[name], dtype=np.float64)
        value = base + step * direction[name]
        dtype = np.asarray(inputs[name]).dtype
        moved[name] = value.astype(dtype) if np.ndim(base) else float(value)
    return moved


def directional_fd(value_fn, inputs: dict, names, direction: dict, eps: float,
                   seed=None) -> float:
    """Central difference of <seed, f(x)> (or of the scalar f) along `direction`."""
    hi = value_fn(_perturbed(inputs, names, direction, eps))
    lo = value_fn(_perturbed(inputs, names, direction, -eps))
    diff = (np.asarray(hi, np.float64) - np.asarray(lo, np.float64)) / (2 * eps)
    if seed is not None:
        return float(np.vdot(np.asarray(seed, np.float64), diff))
    return float(np.sum(diff))


def check_grads(gfn: GradFn, inputs: dict, rng, n_dirs: int = 3, eps: float = 1e-6,
                rtol: float = 1e-6, atol: float = 1e-9, seed_value=None, grads=None):
    """Analytic gradients of `gfn` agree with float64 central differences along
    `n_dirs` random directions. Returns the analytic gradients (by input name).

    `seed_value` is the output adjoint the pipeline was built with (bound under the
    seed Buffer's name when it is an hg.Buffer); `grads` lets a caller supply the
    gradients to check (e.g. from hg.gradients) instead of gfn's own.
    """
    names = [str(w.name) for w in gfn.wrt]
    call_inputs = dict(inputs)
    if seed_value is not None and isinstance(gfn.seed, hg.Buffer):
        call_inputs[str(gfn.seed.name)] = seed_value
    if grads is None:
        _, grads, _ = gfn(call_inputs)
    grads = {n: np.asarray(g, np.float64) for n, g in zip(names, grads)}
    for n, w in zip(names, gfn.wrt):
        assert grads[n].shape == tuple(_shape_of(w, call_inputs)), (
            f"d[{n}] has shape {grads[n].shape}, input has {_shape_of(w, call_inputs)}")
        assert np.all(np.isfinite(grads[n])), f"d[{n}] is not finite:\n{grads[n]}"
    for _ in range(n_dirs):
        direction = {n: rng.standard_normal(np.shape(call_inputs[n])) for n in names}
        numeric = directional_fd(gfn.value, call_inputs, names, direction, eps, seed_value)
        analytic = sum(float(np.vdot(grads[n], direction[n])) for n in names)
        scale = sum(float(np.vdot(np.abs(grads[n]), np.abs(direction[n]))) for n in names)
        assert abs(numeric - analytic) <= atol + rtol * max(scale, abs(numeric)), (
            f"directional derivative mismatch along a random direction: finite "
            f"differences {numeric!r}, <grad, v> = {analytic!r}")
    return grads


def numeric_grad(value_fn, inputs: dict, name: str, eps: float = 1e-6, seed=None) -> np.ndarray:
    """Full element-wise central-difference gradient of <seed, f> w.r.t. one input."""
    base = np.asarray(inputs[name], np.float64)
    grad = np.zeros(base.shape)
    for idx in np.ndindex(*base.shape):
        e = np.zeros(base.shape)
        e[idx] = 1.0
        grad[idx] = directional_fd(value_fn, inputs, [name], {name: e}, eps, seed)
    return grad


def is_scatter(definition) -> bool:
    """An update whose left side is not all pure Vars writes at computed locations."""
    return not all(isinstance(a, hg.Var) for a in definition.args)


def assert_gather(func, what: str = "") -> None:
    """Every definition of `func` writes at its own pure Vars (a gather)."""
    bad = [d for d in func.definitions if is_scatter(d)]
    assert not bad, (f"adjoint {what or func.name} has scatter update(s) with left sides "
                     f"{[d.args for d in bad]}")
