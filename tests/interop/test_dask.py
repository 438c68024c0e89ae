"""hg.dask against the single-array run of the same compiled pipeline (the oracle), for
every boundary condition, odd chunks, chunks smaller than the halo and a warp."""

import os
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import halogrid as hg  # noqa: E402

F32, F64 = hg.Float(32), hg.Float(64)
x, y = hg.Var("x"), hg.Var("y")
BCS = ["repeat_edge", "mirror_image", "mirror_interior", "constant_exterior"]


def _asymmetric_blur(bc_name: str, t=F32):
    """A 3x5 correlation reaching (-1, +1) rows and (-1, +3) columns, plus terms of the
    coordinates (so a block must see its true position)."""
    inp, k, gain = hg.ImageParam(t, 2, "inp"), hg.ImageParam(t, 2, "k"), hg.Param(t, "gain")
    bc = getattr(hg.BoundaryConditions, bc_name)(inp)
    r = hg.RDom([(-1, 3), (-1, 5)], name="r")
    out = hg.Func("blur")
    out[y, x] = (hg.sum(bc[y + r[0], x + r[1]] * k[r[0] + 1, r[1] + 1]) * gain
                 + hg.cast(t, x % 3) * 0.25 - hg.cast(t, y) * 0.01)
    return out, (inp, k, gain)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.random((23, 31), dtype=np.float32), rng.random((3, 5), dtype=np.float32)


@pytest.mark.parametrize("bc_name", BCS)
def test_map_blocks_equals_the_single_array_run(bc_name, data):
    img, k = data
    out, _ = _asymmetric_blur(bc_name)
    expected = hg.Pipeline([out]).compile()(inp=img, k=k, gain=1.5)
    for chunks in [(5, 7), (2, 3), (23, 31)]:  # odd; smaller than the halo; one block
        got = hg.dask.map_blocks([out], inp=da.from_array(img, chunks=chunks), k=k, gain=1.5)
        np.testing.assert_array_equal(got.compute(scheduler="sync"), expected)


def test_halos_are_per_axis_and_asymmetric_from_bounds_inference():
    from halogrid.interop.halos import halos
    out, _ = _asymmetric_blur("repeat_edge")
    assert halos([out], ["inp"], {"gain": 1.0}) == {"inp": [(1, 1), (1, 3)]}
    mirrored, _ = _asymmetric_blur("mirror_interior")  # reflections cross to the other side
    assert halos([mirrored], ["inp"], {"gain": 1.0}) == {"inp": [(2, 2), (4, 4)]}
    inp = hg.ImageParam(F32, 2, "inp")
    shift = hg.Func("shift")
    shift[y, x] = inp[y, x + 2]
    assert halos([shift], ["inp"], {}) == {"inp": [(0, 0), (0, 2)]}


def test_a_warp_with_coordinate_dependent_offsets_equals_the_single_array_run(data):
    img, _ = data
    inp = hg.ImageParam(F32, 2, "inp")
    bc = hg.BoundaryConditions.mirror_image(inp)
    fx, fy = hg.f32(x), hg.f32(y)
    u = fx + hg.sin(fy * 0.7) * 1.5           # a displacement field of the coordinates
    u0 = hg.floor(u)
    iu = hg.clamp(hg.i32(u0), x - 3, x + 3)   # bounded: |displacement| <= 1.5
    a = u - u0
    warp = hg.Func("warp")
    warp[y, x] = bc[y, iu] * (1 - a) + bc[y, iu + 1] * a
    expected = hg.Pipeline([warp]).compile()(inp=img)
    got = hg.dask.map_blocks([warp], inp=da.from_array(img, chunks=(6, 5)))
    np.testing.assert_array_equal(got.compute(scheduler="sync"), expected)
    assert np.abs(expected - img).max() > 0.1  # the warp moves pixels


@pytest.mark.parametrize("bc_name", ["repeat_edge", "mirror_image"])
def test_vjp_over_chunks_equals_the_whole_image_adjoints(bc_name, data):
    img, k = data
    out, (inp, kp, gain) = _asymmetric_blur(bc_name)
    seed = np.random.default_rng(8).random(img.shape, dtype=np.float32)
    d = hg.propagate_adjoints(out, seed)
    ref = hg.Pipeline([d[inp], d[kp], d[gain]]).compile()(
        inp=img, k=k, gain=1.5, shapes=[img.shape, k.shape, ()])
    got = hg.dask.vjp([out], {inp: da.from_array(img, chunks=(4, 7)), kp: k, gain: 1.5},
                      d_out=da.from_array(seed, chunks=(4, 7)))
    d_img, d_k, d_gain = [g.compute(scheduler="sync") for g in got]
    np.testing.assert_allclose(d_img, ref[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d_k, ref[1], rtol=1e-5)   # summed over blocks, by a tree
    np.testing.assert_allclose(d_gain, ref[2], rtol=1e-5)
    assert d_k.shape == k.shape and d_gain.shape == ()


def test_distributed_workers_load_the_module_once_and_match(data):
    distributed = pytest.importorskip("distributed")
    img, k = data
    out, _ = _asymmetric_blur("mirror_image")
    expected = hg.Pipeline([out]).compile()(inp=img, k=k, gain=0.5)
    lazy = hg.dask.map_blocks([out], inp=da.from_array(img, chunks=(6, 8)), k=k, gain=0.5)
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        np.testing.assert_array_equal(client.compute(lazy).result(), expected)
        np.testing.assert_array_equal(client.compute(lazy).result(), expected)
        builds = client.run(_builds)
    counts = [n for per_worker in builds.values() for n in per_worker.values()]
    assert counts and all(n == 1 for n in counts)  # 32 tasks, one module load per worker


def _builds():
    from halogrid.interop import shipping
    return dict(shipping.BUILDS)


def test_map_blocks_errors_name_the_problem(data):
    img, k = data
    out, _ = _asymmetric_blur("repeat_edge")
    with pytest.raises(hg.InputError, match="dask array"):
        hg.dask.map_blocks([out], inp=img, k=k, gain=1.0)
    with pytest.raises(hg.InputError, match="'kk'"):
        hg.dask.map_blocks([out], inp=da.from_array(img), kk=k, gain=1.0)
    inp = hg.ImageParam(F32, 2, "inp")
    half = hg.Func("half")
    half[y, x] = inp[y * 2, x * 2]
    with pytest.raises(hg.InputError, match="halo"):
        hg.dask.map_blocks([half], inp=da.from_array(img))


def test_example_runs_in_tiny_mode():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = subprocess.run([sys.executable, os.path.join(root, "examples", "dask_blur.py"),
                          "--tiny"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "max |dask - numpy|" in run.stdout
