"""Windows of a call: which part of the whole image each input array and output holds.

A compiled pipeline computes an output region with any origin from inputs with any
origin (Halide's buffer mins):
    fn(inp=block, origins={"inp": (y0, x0)}, full_shapes={"inp": (H, W)},
       out_origins=[(y0, x0)])
`origins[name]`: the coordinate of the array's first element (default 0 per dimension);
`full_shapes[name]`: the extent of the whole image, what `inp.width()` and boundary
conditions see (default origin + the array's shape: the smallest image holding the
window); `out_origins`: one origin per output, the first coordinate of the region it
returns (default 0). Invariants of what this hands to the driver: each window lies in
[0, full extent) of its image and every value is an int.
"""

from __future__ import annotations

import numpy as np

from .. import errors


def _ints(value, ndim: int, name: str, what: str) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if items is None or len(items) != ndim or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in items):
        raise errors.bad_window(name, f"its {what} {value!r} is not {ndim} int(s)",
                                f"Pass a tuple of {ndim} ints, one per dimension")
    return tuple(int(v) for v in items)


def _check_names(given: dict, known: list[str], what: str) -> None:
    for name in given:
        if name not in known:
            raise errors.bad_window(str(name), f"{what} names no array input of the pipeline",
                                    f"Use one of: {', '.join(known)}")


def input_windows(inputs, arrays, origins, full_shapes) -> list[int]:
    """Per input, per dimension: window min, window max, whole extent (cpu.input_scalars)."""
    origins, full_shapes = dict(origins or {}), dict(full_shapes or {})
    names = [str(i.name) for i in inputs]
    _check_names(origins, names, "origins=")
    _check_names(full_shapes, names, "full_shapes=")
    flat = []
    for inp, array in zip(inputs, arrays):
        name, n = str(inp.name), inp.dimensions()
        shape = array.shape if n else ()
        lo = _ints(origins.get(name, (0,) * n), n, name, "origin")
        full = _ints(full_shapes.get(name, tuple(o + s for o, s in zip(lo, shape))), n, name,
                     "full shape")
        for d in range(n):
            if lo[d] < 0 or lo[d] + shape[d] > full[d]:
                raise errors.bad_window(
                    name, f"its window [{lo[d]}, {lo[d] + shape[d]}) in dimension {d} is not "
                    f"inside the image [0, {full[d]})",
                    "Give origins >= 0 and full_shapes that hold origin + shape")
            flat += [lo[d], lo[d] + shape[d] - 1, full[d]]
    return flat


def output_origins(outputs, out_origins) -> list[tuple[int, ...]]:
    """One origin per output (zeros when `out_origins` is None)."""
    if out_origins is None:
        return [(0,) * f.dimensions() for f in outputs]
    if not isinstance(out_origins, (list, tuple)) or len(out_origins) != len(outputs):
        raise errors.bad_window("out_origins", f"it needs one origin per output "
                                f"({len(outputs)})", "Pass a list of tuples, one per output")
    return [_ints(o, f.dimensions(), str(f.name), "output origin")
            for f, o in zip(outputs, out_origins)]


def window_of(flat: list[int], input_index: int, inputs, dim: int) -> tuple[int, int]:
    """(min, max) coordinate the array of input `input_index` holds in `dim`."""
    start = 3 * sum(i.dimensions() for i in inputs[:input_index]) + 3 * dim
    return flat[start], flat[start + 1]
