"""Conveniences that cross layers: Func.realize, Func.print_loop_nest,
Func.compile_to_callable, hg.gradients and hg.check_gradients, each a few lines over
codegen's Pipeline.

Invariant: ir/ and autodiff/ import nothing from codegen/ (tests/test_layering.py);
what needs a compiled pipeline lives here. install() gives Func its methods, as
schedule.directives.install gives it the directives.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import errors
from .autodiff import check
from .autodiff.check import GradientReport
from .autodiff.reverse import propagate_adjoints
from .codegen.pipeline import CompiledPipeline, Pipeline
from .ir.buffer import Buffer, InputBuffer, Param
from .ir.func import Func


# ---- Func methods -------------------------------------------------------------

def realize(self, shape: Sequence[int] | None = None, target: str = "cpu",
            deterministic: bool = False, **inputs) -> np.ndarray | tuple[np.ndarray, ...]:
    """Compile (cached) and run over `shape` (NumPy order; [] for a 0-D Func), with
    ImageParams and Params passed by name. Returns an array, or a tuple of arrays
    for a tuple Func. Without `shape`, the shape of the first ImageParam bound.

    >>> blur.realize([480, 640], inp=image)
    >>> blur.realize([480, 640], target="cuda", inp=image)
    """
    return Pipeline([self]).realize(shape, target=target, deterministic=deterministic,
                                    **inputs)


def print_loop_nest(self) -> None:
    """Print the loop nest the schedule lowers to (pseudo-code).

    >>> f.parallel(y).vectorize(x, 8).print_loop_nest()
    """
    print(Pipeline([self]).loop_nest())


def compile_to_callable(self, target: str = "cpu") -> CompiledPipeline:
    """Halide's name for hg.Pipeline(f).compile(target): fn(**inputs, shapes=None).

    >>> fn = blur.compile_to_callable()
    """
    return Pipeline([self]).compile(target=target)


def install(func_class) -> None:
    """Give Func the methods that compile: ir/ knows nothing of codegen."""
    func_class.realize = realize
    func_class.print_loop_nest = print_loop_nest
    func_class.compile_to_callable = compile_to_callable


# ---- gradients ------------------------------------------------------------------

def gradients(loss: Func, inputs: list, target: str = "cpu", **bindings) -> list:
    """Realize d[input] for each input over its full shape (Params: 0-D).

    >>> g_inp, g_k = hg.gradients(loss, [inp, k], inp=image, k=weights, target=goal)
    """
    d = propagate_adjoints(loss)
    funcs = [d[obj] for obj in inputs]
    shapes = [_shape_of(obj, bindings) for obj in inputs]
    if len(funcs) == 1:
        return [Pipeline(funcs).realize(shapes[0], target=target, **bindings)]
    return list(Pipeline(funcs).realize(shapes, target=target, **bindings))


def _shape_of(obj, bindings) -> tuple:
    if isinstance(obj, Param):
        return ()
    if isinstance(obj, Buffer):
        return obj.shape
    if isinstance(obj, InputBuffer) and str(obj.name) in bindings:
        return np.shape(bindings[str(obj.name)])
    raise errors.not_differentiable(
        f"'{obj.name}' in gradients()", "its shape is unknown", "Pass it by name as a keyword, "
        "or realize d[f] yourself with a shape")


def check_gradients(loss: Func, inputs: dict, directions: int = 3, eps: float | None = None,
                    rtol: float | None = None, atol: float | None = None, seed: int = 0,
                    shapes: tuple | None = None, gradients: dict | None = None,
                    target: str = "cpu", **bindings) -> GradientReport:
    """Check d[w] for every input w of `inputs` ({Buffer/ImageParam/Param: value})
    against float64 central differences and forward mode along random directions, on
    one pipeline compiled for `target` under the caller's schedules
    (autodiff/check.py says how and with which tolerances).

    `eps`, `rtol`, `atol` default per dtype (float64: 1e-6, 1e-5, 1e-12; float32: 1e-3,
    1e-2, 1e-6). `shapes` is the output shape of a non-0-D loss (default: the shape of
    the first checked ImageParam, then of the first input by name, of as many
    dimensions); it is then seeded with a random output adjoint. `gradients`
    ({w: Func}) replaces d[w] by a Func of your own, e.g. a hand-written gradient.
    Other inputs of the pipeline go by name in `bindings`.
    Raises hg.GradientCheckError (an AssertionError) naming the input, the direction,
    both values and the relative error; else returns the report.

    >>> print(hg.check_gradients(loss, {inp: image, k: weights, gain: 1.5}))
    """
    def compile_pipeline(funcs: list[Func]) -> CompiledPipeline:
        return Pipeline(funcs).compile(target)
    return check.check(compile_pipeline, loss, inputs, directions, eps, rtol, atol, seed,
                       shapes, gradients, bindings)
