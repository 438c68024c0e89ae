"""Halide 21 peer: ``hl.propagate_adjoints`` gradients, Li2018 autoscheduler, JIT.

For each workload the builder makes two pipelines over the same ImageParams:
forward = the algorithm's outputs; gradient = [loss, d_<name> for each gradient input].
Each is given estimates from the example inputs, autoscheduled with Li2018
(parallelism = env.THREADS) for ``hl.get_host_target()`` and ``compile_jit``-ed inside
the builder (the harness counts builder time as compile time). A timed call binds the
NumPy inputs (zero-copy ``hl.Buffer``), allocates fresh output buffers and realizes.
Thread count comes from HL_NUM_THREADS (set by ``benchmarks.env``).
"""
import os

import halide as hl
import numpy as np

from benchmarks import env
from benchmarks.peers.halide_algos import ALGORITHMS, make_vars
from benchmarks.workloads import WORKLOADS

VERSION = "21.0.0"
PLUGIN = os.path.join(os.path.dirname(hl.__file__), "lib64", "libautoschedule_li2018.so")
hl.load_plugin(PLUGIN)
TARGET = hl.get_host_target()


def _estimates(shape):
    """Halide (min, extent) estimates of a NumPy shape (axes reversed)."""
    return [(0, int(n)) for n in reversed(shape)]


def _loss(p, result):
    """0-D Func L = sum((out - target)^2) (+ W6 histogram term), as numpy_ref.loss."""
    out, hist = result if isinstance(result, tuple) else (result, None)
    target = p["target"]
    dims = target.dimensions()
    r = hl.RDom([hl.Range(0, target.dim(i).extent()) for i in range(dims)])
    rv = [r[i] for i in range(dims)]
    loss = hl.Func("loss")
    loss[()] = hl.f32(0.0)
    loss[()] += (out[rv] - target[rv]) ** 2
    if hist is not None:
        pixels = hl.f32(target.width() * target.height())
        rb = hl.RDom([hl.Range(0, 64)])
        loss[()] += (hist[rb.x] / pixels - p["hist_target"][rb.x]) ** 2
    return loss


def _gradient_funcs(p, loss, grad_names):
    """One output Func per gradient input: d_<name>[v] = adjoint of p[name] at v."""
    adjoints = hl.propagate_adjoints(loss)
    funcs = []
    for name in grad_names:
        v = make_vars(p[name].dimensions())
        g = hl.Func("d_" + name)
        g[v] = adjoints[hl.Func(p[name])][v]
        funcs.append(g)
    return funcs


def _params(example):
    """Fresh Float(32) ImageParams named and shaped like the example inputs."""
    return {name: hl.ImageParam(hl.Float(32), arr.ndim, name) for name, arr in example.items()}


class _Compiled:
    """A Pipeline over its own ImageParams: estimated, autoscheduled, JIT-compiled once.

    ``define(p)`` returns (output Funcs, their NumPy shapes). Each pipeline gets its own
    ImageParams because the autoscheduler also schedules an ImageParam's internal Func,
    and two pipelines sharing one would inherit each other's (invalid) schedules.
    Calling with an input dict shaped like ``example`` returns one array per output.
    """

    def __init__(self, define, example):
        self.p = _params(example)
        outputs, self.out_shapes = define(self.p)
        for name, param in self.p.items():
            param.set_estimates(_estimates(example[name].shape))
        for func, shape in zip(outputs, self.out_shapes):
            func.set_estimates(_estimates(shape))
        self.pipeline = hl.Pipeline(outputs)
        params = hl.AutoschedulerParams("Li2018", {"parallelism": str(env.THREADS)})
        self.schedule = self.pipeline.apply_autoscheduler(TARGET, params).schedule_source
        self.pipeline.compile_jit(TARGET)

    def __call__(self, inputs):
        for name, param in self.p.items():
            param.set(hl.Buffer(inputs[name]))
        buffers = [hl.Buffer(hl.Float(32), [int(n) for n in reversed(s)])
                   for s in self.out_shapes]
        self.pipeline.realize(buffers)
        return [np.asarray(b) for b in buffers]


def _out_shapes(example, result):
    """NumPy shapes of the forward outputs: ``out`` like target, W6's hist (64,)."""
    if isinstance(result, tuple):
        return [example["target"].shape, example["hist_target"].shape]
    return [example["target"].shape]


def _builder(algorithm, grad_names):
    def define_forward(example):
        def define(p):
            result = algorithm(p)
            outs = list(result) if isinstance(result, tuple) else [result]
            return outs, _out_shapes(example, result)
        return define

    def define_gradient(example):
        def define(p):
            loss = _loss(p, algorithm(p))
            grads = _gradient_funcs(p, loss, grad_names)
            return [loss] + grads, [()] + [example[n].shape for n in grad_names]
        return define

    def build(example):
        forward = _Compiled(define_forward(example), example)
        gradient = _Compiled(define_gradient(example), example)

        def fwd(inputs):
            arrays = forward(inputs)
            return tuple(arrays) if len(arrays) > 1 else arrays[0]

        def grad(inputs):
            loss_value, *arrays = gradient(inputs)
            return float(loss_value), dict(zip(grad_names, arrays))

        return fwd, grad

    return build


BUILDERS = {name: _builder(a, WORKLOADS[name].grad_names) for name, a in ALGORITHMS.items()}
