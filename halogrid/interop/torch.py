"""hg.torch.to_autograd: a pipeline as a PyTorch custom op with autograd.

    op = hg.torch.to_autograd([out], inputs=[inp, k, gain], name="blur")
    y = op(img, k, torch.tensor(1.5))       # one tensor per input, a Param as a 0-D tensor

The op is a `torch.library.custom_op` ("halogrid::<name>_<hash>_<n>", unique per call)
with `register_fake` (output shapes: a 0-D output is 0-D, the others have the shape of
the first of `inputs` with their number of dimensions) and `register_autograd`,
whose backward is a second custom op running the compiled VJP pipeline
(interop/adjoints.py), so torch.compile(fullgraph=True) sees two opaque ops and no graph
break. Both pipelines compile once, through halogrid's cache.

Rules: CPU tensors are read zero-copy (detached; copied only when not contiguous);
a CUDA tensor raises an InputError until halogrid has target="cuda". The op computes in
the pipeline's own types: float64 tensors need a pipeline written for Float(64) (what
gradcheck needs), and any other dtype, ndim or device mismatch raises the HalogridError
a NumPy input would. Gradients flow to every floating-point input (ImageParams and
Params); an output gradient that is None counts as zeros. A leading batch dimension
(`batch=True`, or automatic when an ImageParam's tensor has one dimension more than the
ImageParam) runs the one compiled kernel once per image; inputs without the batch
dimension are shared by all images and their gradients are summed over the batch.

The backward pipeline is built inside the op, so its schedule is a hook:
`backward_schedule="auto"` runs Pipeline.auto_schedule on it, and a callable
`backward_schedule(backward, *d)` gets the backward Pipeline and one Derivative per
output (d[f] the adjoint Func of f) before it compiles, to schedule adjoint Funcs and
the forward Funcs the backward recomputes (`d[f].compute_root()`,
`backward.auto_schedule()`). The forward pipeline is compiled first, so such
directives change the backward only.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from .. import errors
from ..codegen import cache
from ..codegen.pipeline import Pipeline
from ..ir.buffer import Buffer, InputBuffer, Param
from ..ir.graph import build_graph
from .adjoints import vjp_parts

if TYPE_CHECKING:
    from ..ir.func import Func

_serial = itertools.count()


class _Signature:
    """What the op's inputs and outputs are, and how one call binds them."""

    def __init__(self, outputs, inputs, batch):
        self.outputs, self.inputs, self.batch = outputs, inputs, batch
        self.names = [str(x.name) for x in inputs]
        self.dims = [0 if isinstance(x, Param) else x.dimensions() for x in inputs]
        self.differentiable = [i for i, x in enumerate(inputs) if x.type().is_float]
        graph = build_graph(outputs)
        missing = [str(x.name) for x in list(graph.inputs) + list(graph.params)
                   if not any(x is y for y in inputs) and not _has_value(x)]
        if missing:
            raise errors.interop_error("build a torch op", f"the pipeline reads {missing} "
                                       "which `inputs` does not list", "List every ImageParam "
                                       "and Param without a default in inputs=[...]")
        ndims = {f.dimensions() for f in outputs} - {0}
        self.shape_from = next((i for i, x in enumerate(inputs) if isinstance(x, InputBuffer)
                                and x.dimensions() in ndims), None)
        if ndims and (len(ndims) > 1 or self.shape_from is None):
            raise errors.interop_error(
                "build a torch op", "its outputs' shapes come from the first input with "
                "their number of dimensions, and there is none (or they differ)",
                "List the image the outputs have the shape of in inputs=[...]")

    def batched(self, tensors) -> bool:
        if self.batch is not None:
            return bool(self.batch)
        return any(self.dims[i] and t.dim() == self.dims[i] + 1 for i, t in enumerate(tensors))

    def out_shapes(self, tensors, batched: bool) -> list[tuple]:
        shape = () if self.shape_from is None else tuple(tensors[self.shape_from].shape)
        size, image = (shape[:1], shape[1:]) if batched else ((), shape)
        return [tuple(size) + (tuple(image) if f.dimensions() else ()) for f in self.outputs]


def _has_value(x) -> bool:
    """An input the op need not bind: a Buffer, or a Param with a default."""
    return x.value() is not None if isinstance(x, Param) else isinstance(x, Buffer)


def _numpy(name: str, t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's data as an array without a copy (contiguous ones)."""
    if not isinstance(t, torch.Tensor):
        raise errors.interop_error(f"bind input '{name}'", f"a {type(t).__name__} is not a "
                                   "tensor", "Pass a torch.Tensor (a Param as a 0-D tensor)")
    if t.device.type != "cpu":
        raise errors.interop_error(
            f"bind input '{name}' on {t.device}", 'halogrid has no target="cuda" to run CUDA '
            'tensors on yet', 'Move the tensors to the CPU with .cpu() until target="cuda" exists')
    return t.detach().contiguous().numpy()


def _split_batch(sig: _Signature, arrays: list, batched: bool):
    """Per image of the batch: the arrays it binds (shared inputs repeated)."""
    if not batched:
        return [arrays]
    sizes = {a.shape[0] for i, a in enumerate(arrays) if sig.dims[i] and a.ndim == sig.dims[i] + 1}
    if len(sizes) != 1:
        raise errors.interop_error("run a batched torch op", f"the batched inputs have "
                                   f"leading sizes {sorted(sizes)}", "Give every batched "
                                   "ImageParam the same batch size")
    size = sizes.pop()
    return [[a[b] if sig.dims[i] and a.ndim == sig.dims[i] + 1 else a
             for i, a in enumerate(arrays)] for b in range(size)]


def _stack(per_image: list[list[np.ndarray]], batched: bool) -> list[torch.Tensor]:
    if not batched:
        return [torch.from_numpy(a if a.flags.c_contiguous else a.copy()) for a in per_image[0]]
    return [torch.from_numpy(np.stack(group)) for group in zip(*per_image)]


def _results(value, count: int) -> list[np.ndarray]:
    return list(value) if count > 1 else [value]


def _sanitised(name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "op")[:40]


def _schema(count_in: int, returns: str) -> str:
    return "(" + ", ".join(f"Tensor x{i}" for i in range(count_in)) + f") -> {returns}"


def to_autograd(outputs: Func | Sequence[Func], inputs: Sequence, name: str = "pipeline",
                batch: bool | None = None,
                backward_schedule: str | Callable | None = None) -> Callable:
    """The custom op of `outputs` over `inputs` (see the module doc).

    >>> op = hg.torch.to_autograd([out], inputs=[inp, k], name="blur")
    >>> y = op(img_tensor, k_tensor.requires_grad_())
    >>> y.sum().backward()                 # k_tensor.grad from the compiled adjoints
    >>> op = hg.torch.to_autograd([out], inputs=[inp, k], backward_schedule="auto")
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    inputs = list(inputs)
    sig = _Signature(outputs, inputs, batch)
    schedule = _backward_scheduler(backward_schedule)
    forward_fn = Pipeline(outputs).compile()
    wrt = [inputs[i] for i in sig.differentiable]
    seeds, grads, derivatives = vjp_parts(outputs, wrt)
    backward_fn = None
    if grads:
        backward = Pipeline(grads)
        schedule(backward, *derivatives)
        backward_fn = backward.compile()
    base = f"halogrid::{_sanitised(name)}_{cache.pipeline_key(forward_fn.graph, 'cpu')[:8]}_" \
           f"{next(_serial)}"
    fwd = _forward_op(base, sig, forward_fn)
    if backward_fn is not None:
        bwd = _backward_op(base + "_backward", sig, backward_fn, seeds)
        _register_autograd(fwd, bwd, sig)
    return fwd


def _backward_scheduler(hook) -> Callable:
    """backward_schedule as a callable (backward pipeline, *derivatives) -> None."""
    if hook is None:
        return lambda backward, *d: None
    if hook == "auto":
        return lambda backward, *d: backward.auto_schedule()
    if callable(hook):
        return hook
    raise errors.interop_error(
        "build a torch op", f"backward_schedule={hook!r} is neither None, 'auto' nor a "
        "callable", "Pass backward_schedule='auto' or a function (backward, *d) -> None")


def _forward_op(qualname: str, sig: _Signature, fn):
    returns = "Tensor" if len(sig.outputs) == 1 else \
        "(" + ", ".join("Tensor" for _ in sig.outputs) + ")"

    def impl(*tensors):
        arrays = [_numpy(n, t) for n, t in zip(sig.names, tensors)]
        batched = sig.batched(tensors)
        runs = []
        for bound in _split_batch(sig, arrays, batched):
            shapes = [a.shape for a in _shape_hint(sig, bound)]
            value = fn(shapes=shapes, **dict(zip(sig.names, bound)))
            runs.append(_results(value, len(sig.outputs)))
        out = _stack(runs, batched)
        return out[0] if len(out) == 1 else tuple(out)

    op = torch.library.custom_op(qualname, impl, mutates_args=(),
                                 schema=_schema(len(sig.inputs), returns))

    @op.register_fake
    def _(*tensors):
        shapes = sig.out_shapes(tensors, sig.batched(tensors))
        device = tensors[0].device if tensors else None
        out = [tensors[0].new_empty(s, dtype=_torch_dtype(f)) if tensors else
               torch.empty(s, dtype=_torch_dtype(f), device=device)
               for f, s in zip(sig.outputs, shapes)]
        return out[0] if len(out) == 1 else tuple(out)
    return op


def _shape_hint(sig: _Signature, bound: list[np.ndarray]) -> list[np.ndarray]:
    """Per output, an array of its shape in one image (output_shapes' default rule)."""
    image = bound[sig.shape_from] if sig.shape_from is not None else None
    return [image if f.dimensions() else np.empty(()) for f in sig.outputs]


def _torch_dtype(f) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=f.type().dtype)).dtype


def _backward_op(qualname: str, sig: _Signature, fn, seeds):
    """(inputs..., output grads...) -> [grad of each differentiable input]."""
    n_in = len(sig.inputs)
    seed_names = [str(s.name) for s in seeds]

    def impl(*tensors):
        xs, gs = tensors[:n_in], tensors[n_in:]
        arrays = [_numpy(n, t) for n, t in zip(sig.names, xs)]
        seeds_np = [_numpy(n, g) for n, g in zip(seed_names, gs)]
        batched = sig.batched(xs)
        per_image = _split_batch(sig, arrays, batched)
        results = []
        for b, bound in enumerate(per_image):
            kwargs = dict(zip(sig.names, bound))
            kwargs.update({n: (g[b] if batched else g) for n, g in zip(seed_names, seeds_np)})
            shapes = [bound[i].shape if sig.dims[i] else () for i in sig.differentiable]
            results.append(_results(fn(shapes=shapes, **kwargs), len(sig.differentiable)))
        return [_reduce(sig, i, [r[j] for r in results], batched, arrays[i])
                for j, i in enumerate(sig.differentiable)]

    op = torch.library.custom_op(qualname, impl, mutates_args=(),
                                 schema=_schema(n_in + len(sig.outputs), "Tensor[]"))

    @op.register_fake
    def _(*tensors):
        return [torch.empty_like(tensors[i]) for i in sig.differentiable]
    return op


def _reduce(sig: _Signature, i: int, per_image: list, batched: bool, array) -> torch.Tensor:
    """The gradient of input i: stacked per image if it is batched, else summed."""
    if batched and sig.dims[i] and array.ndim == sig.dims[i] + 1:
        return torch.from_numpy(np.stack(per_image))
    total = per_image[0] if len(per_image) == 1 else np.sum(per_image, axis=0)
    return torch.from_numpy(np.asarray(total, dtype=array.dtype).reshape(array.shape))


def _register_autograd(fwd, bwd, sig: _Signature) -> None:
    def setup_context(ctx, inputs, output):
        outs = output if isinstance(output, tuple) else (output,)
        ctx.save_for_backward(*inputs)
        ctx.out_meta = [(o.shape, o.dtype) for o in outs]

    def backward(ctx, *grads):
        gs = [g if g is not None else torch.zeros(shape, dtype=dtype)
              for g, (shape, dtype) in zip(grads, ctx.out_meta)]
        result = bwd(*ctx.saved_tensors, *gs)
        full = [None] * len(sig.inputs)
        for j, i in enumerate(sig.differentiable):
            full[i] = result[j]
        return tuple(full)

    fwd.register_autograd(backward, setup_context=setup_context)
