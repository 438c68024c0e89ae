"""Pipelines that more than one file of the CUDA leg builds: a 3x3 blur's boundary
conditions with their np.pad twins, a flow-field warp (data-dependent gathers) and a
bilateral grid (a splat scatter and a trilinear slice). Images are H x W: small, as
the simulator runs one Python thread per CUDA thread. Also a recursive filter (a scan)."""

import halogrid as hg

x, y, z, b = hg.Var("x"), hg.Var("y"), hg.Var("z"), hg.Var("b")
H, W = 8, 12

BOUNDARIES = {  # halogrid condition -> np.pad arguments
    "repeat_edge": (lambda f: hg.BoundaryConditions.repeat_edge(f), {"mode": "edge"}),
    "constant_exterior": (lambda f: hg.BoundaryConditions.constant_exterior(f, 0.5),
                          {"mode": "constant", "constant_values": 0.5}),
    "mirror_image": (lambda f: hg.BoundaryConditions.mirror_image(f), {"mode": "symmetric"}),
    "mirror_interior": (lambda f: hg.BoundaryConditions.mirror_interior(f),
                        {"mode": "reflect"}),
}


def recursive_filter():
    """(inp, a, f): f[y, r] = a f[y, r - 1] + (1 - a) inp[y, r], a scan along x."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    a = hg.Param(hg.Float(32), "a", 0.7)
    r = hg.RDom([(1, W - 1)])
    f = hg.Func("iir")
    f[y, x] = inp[y, x]
    f[y, r[0]] = a * f[y, r[0] - 1] + (1.0 - a) * inp[y, r[0]]
    return inp, a, f


def flow_warp(inp, flow):
    """out[y, x]: inp sampled bilinearly (through repeat_edge) at (y, x) + flow[y, x]."""
    c = hg.BoundaryConditions.repeat_edge(inp)
    sy, sx = hg.f32(y) + flow[y, x, 0], hg.f32(x) + flow[y, x, 1]
    y0, x0 = hg.floor(sy), hg.floor(sx)
    fy, fx = sy - y0, sx - x0
    iy, ix = hg.i32(y0), hg.i32(x0)
    out = hg.Func("warped")
    out[y, x] = ((1 - fy) * ((1 - fx) * c[iy, ix] + fx * c[iy, ix + 1])
                 + fy * ((1 - fx) * c[iy + 1, ix] + fx * c[iy + 1, ix + 1]))
    return out


GRID = (3, 4, 4)   # bilateral grid cells: (H / 4 + 1, W / 4 + 1, 4 intensities)


def bilateral_grid(inp):
    """Splat (a scatter of every pixel into its grid cell), a 3-tap blur along the
    intensity axis, and a trilinear slice (a data-dependent gather)."""
    r = hg.RDom(inp)
    v = hg.clamp(inp[r[0], r[1]], 0.0, 1.0)
    grid = hg.Func("grid")
    grid[y, x, z, b] = 0.0
    cell = (r[0] / 4, r[1] / 4, hg.i32(v * (GRID[2] - 1) + 0.5))
    grid[cell + (0,)] += v
    grid[cell + (1,)] += 1.0
    blurred = hg.Func("blurred")
    zc = [hg.clamp(z + d, 0, GRID[2] - 1) for d in (-1, 0, 1)]
    blurred[y, x, z, b] = (grid[y, x, zc[0], b] + 2 * grid[y, x, zc[1], b]
                           + grid[y, x, zc[2], b]) / 4
    gy, gx = hg.f32(y) / 4.0, hg.f32(x) / 4.0
    gz = hg.clamp(inp[y, x], 0.0, 1.0) * (GRID[2] - 1)
    iy, ix = hg.i32(gy), hg.i32(gx)
    iz = hg.min(hg.i32(gz), GRID[2] - 2)
    fy, fx, fz = gy - hg.f32(iy), gx - hg.f32(ix), gz - hg.f32(iz)

    def lerp3(c):
        def at(dy, dx, dz):
            return blurred[hg.min(iy + dy, GRID[0] - 1), hg.min(ix + dx, GRID[1] - 1),
                           iz + dz, c]
        return sum(wy * wx * wz * at(dy, dx, dz)
                   for dy, wy in ((0, 1 - fy), (1, fy)) for dx, wx in ((0, 1 - fx), (1, fx))
                   for dz, wz in ((0, 1 - fz), (1, fz)))
    out = hg.Func("sliced")
    out[y, x] = lerp3(0) / hg.max(lerp3(1), 1e-3)
    return grid, out
