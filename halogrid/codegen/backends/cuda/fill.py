"""The device fill kernel (a module of its own: numba-cuda's simulator swaps the
`cuda` global of a kernel's module, so the kernel must see it as one)."""

from numba import cuda


@cuda.jit
def fill(flat, value):
    for i in range(cuda.grid(1), flat.shape[0], cuda.gridsize(1)):
        flat[i] = value
