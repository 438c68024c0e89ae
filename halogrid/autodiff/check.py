"""check: hg.check_gradients (api.py) without the compiler: reverse-mode gradients
against float64 central differences along random directions, and forward mode against
reverse mode (JAX's check_grads), on the caller's pipeline under its own schedule. The
caller passes the function that compiles it (autodiff/ imports nothing from codegen/).

For each checked input w and each of `directions` random directions v (standard normal,
w's shape), with u the output adjoint (1 for a 0-D loss, a random array otherwise):
    fd      = <u, L(w + h v) - L(w - h v)> / 2h       central differences
    reverse = <d[w], v_h>                             the adjoint (VJP), or `gradients[w]`
    forward = <u, t[loss]> along v                    forward mode (JVP)
and the inner-product identity <u, J v> = <J^T u, v> says all three agree.

Precision: the compiled pipeline runs as the caller built it (a float32 pipeline stays
float32: nothing is rebuilt), so float32 gets a larger step and a looser rtol. The
perturbed inputs are formed in float64 and rounded to the input's dtype; `v_h`, the step
actually taken divided by 2h, is the direction the adjoint is applied to, so input
rounding is no error. Every difference and inner product is accumulated in float64.
Two values a, b agree when |a - b| <= atol + rtol * max(|a|, |b|) + rounding, where
rounding = 8 ulp <|d[w]|, |v|> (the gradient is rounded to the pipeline's type) plus,
for finite differences, ulp <|u|, |L(w+)| + |L(w-)|> / 2h (the loss's own rounding);
ulp is the loss type's machine epsilon.

Invariant: one pipeline [loss, d[w]..., t[loss]] is compiled once; tangents are
ImageParams/Params bound per call, so every evaluation reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import errors
from ..ir.buffer import ImageParam, InputBuffer, Param
from ..ir.func import Func
from .forward import propagate_tangents
from .invert import input_dims, input_type
from .reverse import propagate_adjoints

_DEFAULTS = {64: (1e-6, 1e-5, 1e-12), 32: (1e-3, 1e-2, 1e-6)}  # bits: (eps, rtol, atol)


@dataclass
class GradientRow:
    input: str
    direction: int
    grad_norm: float
    fd: float
    reverse: float
    forward: float
    rel_err: float
    error: Exception | None = field(default=None, repr=False)  # the first mismatch

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class GradientReport:
    """The rows of one check_gradients call; prints as a table."""

    loss: str
    rows: list

    @property
    def max_rel_err(self) -> float:
        return max((r.rel_err for r in self.rows), default=0.0)

    def __str__(self) -> str:
        lines = [f"gradient check of '{self.loss}'",
                 f"{'input':<12}{'dir':>4}{'|grad|':>12}{'fd':>14}{'reverse':>14}"
                 f"{'forward':>14}{'rel err':>10}"]
        for r in self.rows:
            lines.append(f"{r.input:<12}{r.direction:>4}{r.grad_norm:>12.4g}{r.fd:>14.6g}"
                         f"{r.reverse:>14.6g}{r.forward:>14.6g}{r.rel_err:>10.2g}"
                         f"{'' if r.ok else '  MISMATCH'}")
        return "\n".join(lines)


def check(compile_pipeline: Callable[[list[Func]], Callable], loss: Func, inputs: dict,
          directions: int = 3, eps: float | None = None, rtol: float | None = None,
          atol: float | None = None, seed: int = 0, shapes: tuple | None = None,
          gradients: dict | None = None, bindings: dict | None = None) -> GradientReport:
    """hg.check_gradients (api.py, which documents the arguments) given the compiler:
    `compile_pipeline(funcs)` returns what Pipeline(funcs).compile() does (called as
    fn(shapes=..., **inputs), with fn.input_names), and `bindings` holds the
    pipeline's other inputs by name."""
    bindings = bindings or {}
    wrt = [(obj, _value_of(obj, value)) for obj, value in inputs.items()]
    out_shape = _loss_shape(loss, shapes, wrt, bindings)
    rng = np.random.default_rng(seed)
    u = None if not out_shape else rng.standard_normal(out_shape)
    _check_overrides(gradients or {}, wrt)
    checker = _Checker(loss, wrt, out_shape, u, gradients or {}, compile_pipeline, bindings)
    rows = [checker.row(i, k, np.asarray(rng.standard_normal(np.shape(value))), eps, rtol,
                        atol)
            for i, (_, value) in enumerate(wrt) for k in range(directions)]
    report = GradientReport(str(loss.name), rows)
    bad = [r for r in rows if not r.ok]
    if bad:
        bad[0].error.report = report
        raise bad[0].error
    return report


def _value_of(obj, value) -> np.ndarray:
    if not isinstance(obj, (InputBuffer, Param)):
        raise errors.not_differentiable(
            f"{obj!r} in check_gradients", "only inputs (Buffer, ImageParam, Param) can be "
            "checked", "Key the inputs dict by the pipeline's inputs")
    t = input_type(obj)
    if not t.is_float:
        raise errors.not_differentiable(
            f"with respect to '{obj.name}' in check_gradients", f"it has integer type {t}",
            f"Pass '{obj.name}' by name as a fixed input instead")
    array = np.asarray(value, dtype=t.dtype)
    dims = input_dims(obj)
    if array.ndim != dims:
        raise errors.wrong_ndim(str(obj.name), dims, array.ndim)
    return array


def _loss_shape(loss, shapes, wrt, bindings) -> tuple:
    """The loss's output shape: `shapes`, else () for 0-D, else the shape of the first
    checked ImageParam (then the first input by name) of the loss's dimensions."""
    if not isinstance(loss, Func):
        raise errors.not_differentiable(f"{loss!r} in check_gradients", "the loss must be "
                                        "a Func", "Pass the Func whose gradients to check")
    if shapes is not None:
        shape = shapes[0] if shapes and isinstance(shapes[0], (tuple, list)) else shapes
        return tuple(int(e) for e in shape)
    if loss.dimensions() == 0:
        return ()
    candidates = [v for obj, v in wrt if isinstance(obj, ImageParam)]
    candidates += [np.asarray(v) for v in bindings.values()]
    for value in candidates:
        if value.ndim == loss.dimensions():
            return value.shape
    raise errors.not_differentiable(
        f"Func '{loss.name}' in check_gradients", f"it has {loss.dimensions()} dimension(s) "
        "and no input has as many to take its shape from", "Pass shapes=(...)")


class _Checker:
    """The compiled pipeline [loss, gradients..., t[loss]] and its evaluations."""

    def __init__(self, loss, wrt, out_shape, u, gradients, compile_pipeline, bindings):
        if u is not None:  # the seed as the pipeline holds it, so all three modes share it
            u = u.astype(loss.type().dtype)
        self.loss, self.wrt, self.out_shape = loss, wrt, out_shape
        self.u = None if u is None else u.astype(np.float64)
        d = propagate_adjoints(loss) if u is None else propagate_adjoints(loss, u)
        self.ulp = float(np.finfo(loss.type().dtype).eps)  # the loss type's machine epsilon
        self.tangent_inputs = [_tangent_input(obj, bindings) for obj, _ in wrt]
        t = propagate_tangents({obj: tan for (obj, _), tan in zip(wrt, self.tangent_inputs)})
        grads = [_override(gradients, obj) or d[obj] for obj, _ in wrt]
        self.fn = compile_pipeline([loss] + grads + [t[loss]])
        self.base = {str(obj.name): value for obj, value in wrt}
        self.bindings = bindings
        _, self.grads, _ = self.run(self.base, {})

    def run(self, values: dict, tangents: dict):
        """(loss, [gradients], jvp) as float64 arrays; unnamed tangents are zero."""
        kwargs = dict(self.bindings)
        for (obj, _), tan in zip(self.wrt, self.tangent_inputs):
            value = values[str(obj.name)]
            kwargs[str(obj.name)] = float(value) if isinstance(obj, Param) else value
            zero = 0.0 if isinstance(tan, Param) else np.zeros_like(value)
            kwargs[str(tan.name)] = tangents.get(str(tan.name), zero)
        shapes = [self.out_shape] + [np.shape(v) for _, v in self.wrt] + [self.out_shape]
        known = set(self.fn.input_names)  # inputs the loss does not read are not bound
        res = self.fn(shapes=shapes, **{n: a for n, a in kwargs.items() if n in known})
        res = [np.asarray(r, np.float64) for r in res]
        return res[0], res[1:-1], res[-1]

    def _pair(self, a: np.ndarray) -> float:
        """<u, a> in float64 (u = 1 for a 0-D loss)."""
        return float(np.sum(a)) if self.u is None else float(np.vdot(self.u, a))

    def _magnitude(self, a: np.ndarray) -> float:
        """<|u|, |a|>: the size of what <u, a> sums."""
        return float(np.sum(np.abs(a))) if self.u is None else float(
            np.vdot(np.abs(self.u), np.abs(a)))

    def _derivatives(self, i: int, v, h: float):
        """[(what, value, direction taken, rounding noise)] of fd and forward mode."""
        obj, x = self.wrt[i]
        x64 = x.astype(np.float64)
        plus, minus = (x64 + h * v).astype(x.dtype), (x64 - h * v).astype(x.dtype)
        v_h = (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * h)
        hi = self.run({**self.base, str(obj.name): plus}, {})[0]
        lo = self.run({**self.base, str(obj.name): minus}, {})[0]
        fd_noise = self.ulp * (self._magnitude(hi) + self._magnitude(lo)) / (2 * h)
        v_t = v.astype(x.dtype)
        forward = self.run(self.base, {str(self.tangent_inputs[i].name): v_t})[2]
        return [("finite differences", self._pair(hi - lo) / (2 * h), v_h, fd_noise),
                ("forward mode", self._pair(forward), v_t.astype(np.float64), 0.0)]

    def row(self, i: int, k: int, v, eps, rtol, atol) -> GradientRow:
        """Direction k of input i: the three directional derivatives, compared."""
        obj, x = self.wrt[i]
        h, rtol_d, atol_d = _defaults(x.dtype)
        h, atol = (h if eps is None else eps), (atol_d if atol is None else atol)
        if rtol is None:
            rtol = max(rtol_d, _defaults(self.loss.type().dtype)[1])
        g = self.grads[i]
        found = self._derivatives(i, v, h)
        row = GradientRow(str(obj.name), k, float(np.linalg.norm(g)), found[0][1],
                          float(np.vdot(g, found[0][2])), found[1][1], 0.0)
        for what, expected, direction, noise in found:
            got = float(np.vdot(g, direction))
            size = max(abs(expected), abs(got))
            rounding = 8 * self.ulp * float(np.vdot(np.abs(g), np.abs(direction))) + noise
            allowed = atol + rtol * size + rounding
            rel = abs(expected - got) / size if size > 0 else 0.0
            row.rel_err = max(row.rel_err, rel)
            if row.error is None and abs(expected - got) > allowed:
                row.error = errors.gradient_mismatch(str(self.loss.name), str(obj.name), k,
                                                     what, expected, got, rel, allowed)
        return row


def _defaults(dtype) -> tuple:
    """(eps, rtol, atol) for a dtype: float64's, or float32's for anything narrower."""
    return _DEFAULTS[64] if np.dtype(dtype).itemsize >= 8 else _DEFAULTS[32]


def _tangent_input(obj, bindings):
    """A fresh ImageParam/Param carrying obj's tangent into the compiled pipeline."""
    name = f"t_{obj.name}"
    while name in bindings or name == str(obj.name):
        name = "_" + name
    if isinstance(obj, Param):
        return Param(obj.type, name, 0.0)
    return ImageParam(obj.type(), obj.dimensions(), name)


def _check_overrides(gradients: dict, wrt) -> None:
    """Every gradients= key is a checked input (else its Func would go unchecked)."""
    for key in gradients:
        if not any(key is obj for obj, _ in wrt):
            raise errors.not_differentiable(
                f"with respect to {getattr(key, 'name', key)!r} in check_gradients", "it has a "
                "gradients= entry but is not in the inputs to check", "Add it to the inputs")


def _override(gradients: dict, obj):
    for key, func in gradients.items():
        if key is obj:
            dims = input_dims(obj)
            if not isinstance(func, Func) or func.dimensions() != dims:
                raise errors.not_differentiable(
                    f"with respect to '{obj.name}' in check_gradients", "its gradients= "
                    "entry is not a Func of the input's dimensions", f"Give a {dims}-D Func")
            return func
    return None

