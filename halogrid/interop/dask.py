"""hg.dask: pipelines over dask arrays, block by block.

    out = hg.dask.map_blocks([blur], inp=image, k=weights)     # a dask array per output
    d_inp, d_k = hg.dask.vjp([blur], {inp: image, k: weights}, d_out=seed)

Inputs are passed by name as for a compiled pipeline: dask arrays are the blocked images
(all of one shape, the outputs' shape), NumPy arrays and scalars go whole to every block.
Each output block is computed by the compiled pipeline from its input windows
(`da.map_overlap`, boundary='none'): the halos come from halogrid's bounds inference
(interop/halos.py), the block's origin and the whole image's shape are passed as
`origins=`, `out_origins=` and `full_shapes=`, so boundary conditions apply at the true
image edges and coordinate-dependent expressions see true coordinates: the result equals
the single-array run. Chunks smaller than a halo are merged first
(dask's ensure_minimum_chunksize), so the output chunks may be coarser than the input's.

vjp: the gradient of an image input is the VJP pipeline (interop/adjoints.py) mapped the
same way, the output adjoint being one more blocked image; the gradient of a NumPy
input or Param sums per-block gradients (each block's output adjoint restricted to the
block) with a tree reduction (`da.reduction`). Workers in other processes get the
compiled module shipped (interop/shipping.py), never Funcs, and never recompile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import dask.array as da
import numpy as np
from dask.array.overlap import ensure_minimum_chunksize

from .. import errors
from ..codegen.pipeline import Pipeline
from ..ir.graph import build_graph
from .adjoints import vjp_funcs
from .halos import halos
from .shipping import ShippedPipeline

if TYPE_CHECKING:
    from ..ir.func import Func


def map_blocks(outputs: Func | Sequence[Func], **inputs) -> da.Array | tuple:
    """One dask array per output (a single array for one output); see the module doc.

    >>> blurred = hg.dask.map_blocks([blur], inp=da.from_array(image, chunks=512))
    >>> blurred.compute()                  # equal to the whole-image run
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    images, whole = _split(outputs, inputs)
    depths, chunks = _geometry(outputs, images, whole)
    results = [_blocked(f, images, whole, depths, chunks) for f in outputs]
    return results[0] if len(results) == 1 else tuple(results)


def vjp(outputs: Func | Sequence[Func], inputs: dict, d_out: object) -> list:
    """Gradients of <d_out, outputs> for each key of `inputs` (None for an integer one):
    dask arrays for blocked images, dask arrays of the input's shape for the others.

    >>> d_inp, d_k = hg.dask.vjp([out], {inp: dask_image, k: weights}, d_out=dask_adjoint)
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    d_out = list(d_out) if isinstance(d_out, (list, tuple)) else [d_out]
    if len(d_out) != len(outputs) or not all(isinstance(d, da.Array) for d in d_out):
        raise errors.interop_error("compute hg.dask.vjp", "d_out needs one dask array per "
                                   "output", "Pass d_out=[...] with an adjoint of each output")
    named = {str(x.name): v for x, v in inputs.items()}
    images, whole = _split(outputs, named)
    forward = halos(outputs, list(images), _scalars(whole))
    wrt = [x for x in inputs if x.type().is_float]
    seeds, grads = vjp_funcs(outputs, wrt)
    seed_names = [str(s.name) for s in seeds]
    named.update(zip(seed_names, d_out))
    result = {}
    for x, g in zip(wrt, grads):
        images, whole = _split([g], named, strict=False)
        blocked = isinstance(inputs[x], da.Array)
        depths, chunks = _vjp_geometry(forward, images, [] if blocked else seed_names)
        if blocked:
            result[id(x)] = _blocked(g, images, whole, depths, chunks)
        else:
            result[id(x)] = _summed(g, images, whole, depths, chunks, np.shape(inputs[x]))
    return [result.get(id(x)) for x in inputs]


def _vjp_geometry(forward: dict, images: dict, exact: list[str]):
    """Depths of the gradient pipelines, from the forward halos h = (before, after): a
    gradient pixel p gathers from the outputs within h of p and from the inputs they
    read, within 2h: every image reaches sum(h) + 1 on both sides (the one more keeps
    the window edges, where the adjoint of a boundary clamp collects the reads past
    them, outside the block). With `exact`, those adjoints are read over the block only
    and the images over h + 1 (a whole input's gradient sums over the block's outputs)."""
    first = next(iter(images.values()))
    reach = {}
    for a in range(first.ndim):
        before = max(h[a][0] for h in forward.values())
        after = max(h[a][1] for h in forward.values())
        reach[a] = (before + 1, after + 1) if exact else (before + after + 1,) * 2
    none = {a: (0, 0) for a in reach}
    depths = {n: none if n in exact else reach for n in images}
    return depths, _chunks(first, reach)


def _scalars(whole: dict) -> dict:
    return {n: v for n, v in whole.items() if np.ndim(v) == 0}


def _chunks(first, depth: dict):
    """The first image's chunks, merged where one is smaller than its axis's depth."""
    return tuple(ensure_minimum_chunksize(max(depth[a]), c) if max(depth[a]) else c
                 for a, c in enumerate(first.chunks))


def _split(outputs, inputs: dict, strict: bool = True) -> tuple[dict, dict]:
    """(blocked images by name, whole inputs by name) of the inputs the graph reads;
    `strict`: an input it does not read is an error (else it is left out)."""
    g = build_graph(outputs)
    known = [str(i.name) for i in g.inputs] + [str(p.name) for p in g.params]
    for name in inputs:
        if name not in known and strict:
            raise errors.unknown_input(name, known)
    inputs = {n: v for n, v in inputs.items() if n in known}
    images = {n: v for n, v in inputs.items() if isinstance(v, da.Array)}
    if not images:
        raise errors.interop_error("run hg.dask", "no input is a dask array",
                                   "Pass the image as a dask array (da.from_array, ...)")
    shapes = {v.shape for v in images.values()}
    if len(shapes) != 1:
        raise errors.interop_error("run hg.dask", f"the dask inputs have shapes {sorted(shapes)}",
                                   "Give every blocked image the same shape")
    whole = {n: v for n, v in inputs.items() if n not in images}
    return images, whole


def _geometry(outputs, images: dict, whole: dict):
    """(per image name: per-axis (before, after) depth, the images' common chunks). All
    images share one depth (the largest halo of any), so their blocks line up."""
    reach = halos(outputs, list(images), _scalars(whole))
    first = next(iter(images.values()))
    common = {a: (max(reach[n][a][0] for n in images), max(reach[n][a][1] for n in images))
              for a in range(first.ndim)}
    return {n: common for n in images}, _chunks(first, common)


def _blocked(f, images: dict, whole: dict, depths: dict, chunks):
    """The output Func f over the images' blocks, as a dask array of their shape."""
    block = _Block(Pipeline([f]).compile(), images, whole, depths, chunks)
    dtype = f.type().dtype
    return da.map_overlap(block, *[v.rechunk(chunks) for v in images.values()],
                          depth=list(depths.values()), boundary="none", trim=False,
                          allow_rechunk=False, chunks=chunks, dtype=dtype,
                          meta=np.empty((0,) * len(chunks), dtype))


def _summed(g, images: dict, whole: dict, depths: dict, chunks, shape: tuple):
    """Sum over blocks of the gradient g of a whole input of `shape` (see vjp)."""
    shape = tuple(shape)
    block = _Block(Pipeline([g]).compile(), images, whole, depths, chunks, grad_shape=shape)
    dtype = g.type().dtype
    blocks = tuple((1,) * len(c) for c in chunks)
    partials = da.map_overlap(
        block, *[v.rechunk(chunks) for v in images.values()], depth=list(depths.values()),
        boundary="none", trim=False, allow_rechunk=False,
        chunks=blocks + tuple((s,) for s in shape),
        new_axis=list(range(len(blocks), len(blocks) + len(shape))) or None, dtype=dtype,
        meta=np.empty((0,) * (len(blocks) + len(shape)), dtype))
    return da.reduction(partials, np.sum, np.sum, axis=tuple(range(len(blocks))), dtype=dtype)


class _Block:
    """The task of one block: bind each image's window with its origin and the whole
    image's shape, and compute the output block (or, with `grad_shape`, one block's
    gradient of a whole input, with leading unit axes for the blocks)."""

    def __init__(self, compiled, images: dict, whole: dict, depths: dict, chunks,
                 grad_shape=None):
        self.shipped = ShippedPipeline(compiled)
        self.names, self.whole = list(images), whole
        self.depths = [depths[n] for n in self.names]
        self.full_shape = next(iter(images.values())).shape
        self.chunks, self.grad_shape = chunks, grad_shape
        self.offsets = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]

    def __call__(self, *windows, block_info=None):
        index = block_info[0]["chunk-location"]
        start = tuple(int(self.offsets[a][i]) for a, i in enumerate(index))
        size = tuple(int(self.chunks[a][i]) for a, i in enumerate(index))
        origins = {n: tuple(max(0, s - depth[a][0]) for a, s in enumerate(start))
                   for n, depth in zip(self.names, self.depths)}
        kwargs = {**self.shipped.defaults, **self.whole, **dict(zip(self.names, windows))}
        fn = self.shipped.callable()
        if self.grad_shape is None:
            return fn(shapes=[size], origins=origins, out_origins=[start],
                      full_shapes={n: self.full_shape for n in self.names}, **kwargs)
        value = fn(shapes=[self.grad_shape], origins=origins,
                   full_shapes={n: self.full_shape for n in self.names}, **kwargs)
        return np.asarray(value).reshape((1,) * len(start) + self.grad_shape)
