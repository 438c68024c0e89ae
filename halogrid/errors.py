"""The HalogridError tree and the one catalogue of user-facing messages.

Every user mistake raises a ``HalogridError`` subclass that also inherits the
built-in exception it resembles, so ``except ValueError`` keeps working.
Messages read "Can't <what> for Func 'f' in dimension d: <why>. <fix>." and
point at the user's file:line captured when the offending object was defined.
Bugs in halogrid itself raise ``InternalError``.
"""

from __future__ import annotations

import os
import traceback

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class HalogridError(Exception):
    """Base of every error a user can cause.

    >>> try:
    ...     fn(inp=image.astype(np.float64))
    ... except hg.HalogridError as e:
    ...     print(e)   # Can't bind input 'inp': it expects dtype float32 but got float64. ...
    """


class DefinitionError(HalogridError, ValueError):
    """An algorithm (Func/RDom/expression) is undefined or self-contradictory.

    >>> f[x] = 1; f[x] = 2            # DefinitionError: Can't redefine the pure definition ...
    """


class TypeMismatchError(HalogridError, TypeError):
    """An expression mixes types in a way Halide's promotion rules refuse.

    >>> inp[hg.f32(x) * 0.5]          # TypeMismatchError: Can't index 'inp' ... with a float32 ...
    """


class BoundsError(HalogridError, IndexError):
    """An access falls outside an input, or an index has no provable bound.

    >>> f[x] = inp[x + 1]; hg.Pipeline(f).compile()(inp=a)   # BoundsError: ... over [1, n] ...
    """


class InputError(HalogridError, TypeError):
    """A compiled pipeline was called with a missing or malformed input.

    >>> fn(inp=image, gain="3")        # InputError: Can't set Param 'gain' ... a string ...
    """


class ScheduleError(HalogridError, ValueError):
    """A schedule directive is invalid or would race.

    >>> f.split(q, qo, qi, 4)          # ScheduleError: ... has no loop variable 'q' ...
    """


class DifferentiationError(HalogridError, ValueError):
    """A gradient request that cannot be honoured.

    >>> d[hist]                        # DifferentiationError: ... it has integer type ...
    """


class GradientCheckError(HalogridError, AssertionError):
    """check_gradients found a gradient that disagrees with finite differences or with
    forward mode. An AssertionError: a failed check, as in numpy.testing.

    >>> hg.check_gradients(loss, {k: weights}, inp=image)   # raises GradientCheckError
    """


class InternalError(Exception):
    """A bug in halogrid: an invariant between passes was broken."""


def user_location() -> str:
    """The innermost stack frame outside the halogrid package, as 'file:line'."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


def _at(where: str | None) -> str:
    return f" (defined at {where})" if where else ""


# ---- the catalogue: one function per kind of mistake -----------------------

def undefined_func(name: str, where: str | None = None) -> DefinitionError:
    return DefinitionError(
        f"Can't use Func '{name}'{_at(where)}: it has no definition. "
        f"Define it first, e.g. {name}[x] = ...")


def redefined_pure(name: str, where: str | None = None) -> DefinitionError:
    return DefinitionError(
        f"Can't redefine the pure definition of Func '{name}'{_at(where)}: "
        "a Func has exactly one pure definition. Use an update (f[x] += ..., or "
        "f[x] = f[x] ... with a reference to f) or a new Func.")


def dimension_mismatch(name: str, expected: int, got: int, what: str) -> DefinitionError:
    return DefinitionError(
        f"Can't {what} Func '{name}' with {got} argument(s): it is defined over "
        f"{expected} dimension(s). Use exactly {expected} index expression(s).")


def rdom_in_pure_lhs(name: str, dim: int) -> DefinitionError:
    return DefinitionError(
        f"Can't use a reduction variable on the left side of the pure definition of "
        f"Func '{name}' in dimension {dim}: pure definitions take only distinct Vars. "
        "Give a pure definition first (e.g. f[x] = 0) and put the RDom in an update.")


def bad_pure_lhs(name: str, dim: int, arg: str) -> DefinitionError:
    return DefinitionError(
        f"Can't define Func '{name}' in dimension {dim} at '{arg}': the left side of a "
        "pure definition must be distinct Vars. Define it over Vars, then write an "
        "update at other locations.")


def bad_update_lhs(name: str, dim: int, arg: str) -> DefinitionError:
    return DefinitionError(
        f"Can't update Func '{name}' in dimension {dim} at '{arg}': a pure Var on the "
        "left side of an update must appear bare in its own dimension (other dimensions "
        "may use it in their index, f[x, x]). "
        "Use the Var in the same position as in the pure definition.")


def out_of_bounds(func: str, buffer: str, dim: int, lo: int, hi: int, extent: int) -> BoundsError:
    return BoundsError(
        f"Can't compute Func '{func}': it accesses input '{buffer}' in dimension {dim} "
        f"over [{lo}, {hi}], but the input's extent there is {extent} (valid [0, "
        f"{extent - 1}]). Wrap the input in a boundary condition, e.g. "
        f"hg.BoundaryConditions.repeat_edge({buffer}), or shrink the output.")


def out_of_window(func: str, buffer: str, dim: int, lo: int, hi: int,
                  window: tuple[int, int]) -> BoundsError:
    return BoundsError(
        f"Can't compute Func '{func}': it accesses input '{buffer}' in dimension {dim} "
        f"over [{lo}, {hi}], but the array bound holds only [{window[0]}, {window[1]}] "
        f"there (its origins=). Bind a window that holds the reads, or shrink the output.")


def bad_window(name: str, why: str, fix: str) -> InputError:
    return InputError(f"Can't place input '{name}' in its image: {why}. {fix}.")


def interop_error(what: str, why: str, fix: str) -> InputError:
    return InputError(f"Can't {what}: {why}. {fix}.")


def unbounded_index(func: str, callee: str, dim: int) -> BoundsError:
    return BoundsError(
        f"Can't infer bounds for Func '{func}' accessing '{callee}' in dimension {dim}: "
        "the index is data-dependent and no bound can be proven. Wrap the index in "
        "hg.clamp(index, lo, hi).")


def missing_input(name: str, known: list[str]) -> InputError:
    return InputError(
        f"Can't run the pipeline: input '{name}' was not given. "
        f"Pass it by name: fn({name}=...). Inputs: {', '.join(known)}.")


def unknown_input(name: str, known: list[str]) -> InputError:
    return InputError(
        f"Can't run the pipeline with input '{name}': the pipeline has no input by that "
        f"name. Inputs: {', '.join(known)}.")


def wrong_ndim(name: str, expected: int, got: int) -> InputError:
    return InputError(
        f"Can't bind input '{name}': it has {expected} dimension(s) but the array has "
        f"{got}. Pass an array with ndim={expected}.")


def wrong_dtype(name: str, expected: str, got: str) -> InputError:
    return InputError(
        f"Can't bind input '{name}': it expects dtype {expected} but got {got}. "
        f"Convert it, e.g. array.astype(np.{expected}).")


def bad_input(name: str, why: str, fix: str) -> InputError:
    return InputError(f"Can't bind input '{name}': {why}. {fix}.")


def bad_param_value(name: str, type_name: str, value: str, why: str, fix: str) -> InputError:
    return InputError(f"Can't set Param '{name}' of type {type_name} to {value}: {why}. {fix}.")


def bad_output_shape(name: str, shape: str, why: str) -> InputError:
    return InputError(
        f"Can't realize output '{name}' over shape {shape}: {why}. "
        "Give one non-negative int extent per dimension, e.g. shapes=[(480, 640)].")


def unknown_output_shape(name: str, why: str) -> InputError:
    return InputError(
        f"Can't infer the shape of output '{name}': {why}. "
        "Pass shapes=[...] with one shape per output.")


def float_index(name: str, dim: int, type_name: str) -> TypeMismatchError:
    return TypeMismatchError(
        f"Can't index '{name}' in dimension {dim} with a {type_name} expression: indices "
        "are integers and a float is never converted implicitly (as in Halide). Cast it "
        "explicitly, e.g. hg.i32(e) or hg.i32(hg.floor(e)).")


def bad_rdom(name: str, dim: int, what: str, value: str) -> DefinitionError:
    return DefinitionError(
        f"Can't build RDom '{name}' in dimension {dim}: its {what} {value} is not an "
        "integer. Pass an int or an integer expression, e.g. hg.i32(e).")


def wrong_shapes(count: int, got: int) -> InputError:
    return InputError(
        f"Can't run the pipeline: it has {count} output(s) but shapes lists {got}. "
        "Give one shape per output.")


def type_mismatch(what: str, why: str, fix: str) -> TypeMismatchError:
    return TypeMismatchError(f"Can't {what}: {why}. {fix}.")


def schedule_error(func: str, directive: str, why: str, fix: str) -> ScheduleError:
    return ScheduleError(f"Can't apply {directive} to Func '{func}': {why}. {fix}.")


def not_differentiable(what: str, why: str, fix: str) -> DifferentiationError:
    return DifferentiationError(f"Can't differentiate {what}: {why}. {fix}.")


def bad_custom_adjoint(func: str, why: str, fix: str) -> DifferentiationError:
    return DifferentiationError(
        f"Can't differentiate Func '{func}' with its custom adjoint: {why}. {fix}.")


def bad_extern(stage: str, why: str, fix: str) -> DefinitionError:
    return DefinitionError(f"Can't define extern stage '{stage}': {why}. {fix}.")


def bad_extern_result(stage: str, why: str, fix: str) -> DefinitionError:
    return DefinitionError(f"Can't use the result of extern stage '{stage}': {why}. {fix}.")


def gradient_mismatch(loss: str, wrt: str, direction: int, what: str, expected: float,
                      got: float, rel: float, allowed: float) -> GradientCheckError:
    return GradientCheckError(
        f"Can't confirm the gradient of Func '{loss}' with respect to '{wrt}' along random "
        f"direction {direction}: {what} {expected!r} but reverse mode {got!r} (relative "
        f"error {rel:.3g}; they may differ by {allowed:.3g}). Inspect the adjoints between "
        f"'{wrt}' and '{loss}' (d[{wrt}].definitions), or raise eps/rtol for a loss with "
        "kinks or float32 rounding.")
