"""Arguments and results of target='cuda' callables: NumPy in -> NumPy out, device
arrays in -> device arrays out (zero copy), the same InputErrors for device arrays as
for NumPy arrays, fresh outputs and reused intermediates across calls, the messages
where numba-cuda or a GPU is missing; and, marked `gpu` (a real GPU only), streams,
torch CUDA tensors, numba-cuda's disk cache across processes, and a warm call's time."""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numba import cuda

import halogrid as hg
from cuda_compare import cpu_run
from halogrid.codegen.backends.cuda import runtime

x, y = hg.Var("x"), hg.Var("y")
H, W = 6, 10


def _blur_and_total():
    """(inp, gain, [blur, total]): a stored blur (an intermediate) and a 0-D sum of it."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain = hg.Param(hg.Float(32), "gain", 2.0)
    c = hg.BoundaryConditions.repeat_edge(inp)
    pre = hg.Func("pre")
    pre[y, x] = c[y, x] * gain
    pre.compute_root()
    blur = hg.Func("blur")
    blur[y, x] = (pre[y, x - 1] + pre[y, x] + pre[y, x + 1]) / 3
    r = hg.RDom(inp)
    total = hg.Func("total")
    total[()] = 0.0
    total[()] += blur[r[0], r[1]]
    return inp, gain, [blur, total]


def _on_device(a) -> bool:
    """A numba device array (the simulator's too), not a host array."""
    return cuda.devicearray.is_cuda_ndarray(a) and not isinstance(a, np.ndarray)


def _image(rng, shape=(H, W)):
    return rng.random(shape, dtype=np.float32)


def test_numpy_in_numpy_out_equals_the_cpu_target(rng):
    _, _, outs = _blur_and_total()
    a = _image(rng)
    fn = hg.Pipeline(outs).compile(target="cuda")
    blur, total = fn(inp=a, gain=1.5)
    assert type(blur) is np.ndarray and type(total) is np.ndarray and total.shape == ()
    want_blur, want_total = cpu_run(outs, inp=a, gain=1.5)
    np.testing.assert_allclose(blur, want_blur, rtol=1e-6)
    np.testing.assert_allclose(total, want_total, rtol=1e-5)


def test_device_arrays_in_give_device_arrays_out(rng):
    _, _, outs = _blur_and_total()
    a = _image(rng)
    fn = hg.Pipeline(outs).compile(target="cuda")
    blur, total = fn(inp=cuda.to_device(a), gain=1.5)
    assert _on_device(blur) and _on_device(total)
    host_blur, host_total = fn(inp=a, gain=1.5)
    np.testing.assert_array_equal(blur.copy_to_host(), host_blur)
    np.testing.assert_array_equal(np.asarray(total.copy_to_host()).reshape(()), host_total)


def test_mixed_and_strided_inputs(rng):
    """One device input makes every output a device array; a strided device view
    and a strided NumPy view read as their contiguous copies do."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    w = hg.ImageParam(hg.Float(32), 2, "w")
    c = hg.BoundaryConditions.repeat_edge(inp)
    out = hg.Func("weighted")
    out[y, x] = (c[y, x - 1] + c[y, x + 1]) * w[y, x]
    fn = hg.Pipeline(out).compile(target="cuda")
    wide, weights = _image(rng, (H, 2 * W)), _image(rng)
    want = cpu_run(out, inp=np.ascontiguousarray(wide[:, ::2]), w=weights)
    for inputs in ({"inp": cuda.to_device(wide)[:, ::2], "w": weights},
                   {"inp": wide[:, ::2], "w": cuda.to_device(weights)}):
        got = fn(**inputs)
        assert _on_device(got)
        np.testing.assert_allclose(got.copy_to_host(), want, rtol=1e-6)
    np.testing.assert_allclose(fn(inp=wide[:, ::2], w=weights), want, rtol=1e-6)


def test_each_call_gets_fresh_outputs_and_reuses_its_intermediates(rng):
    """Device-array calls: the first call's outputs survive a second call (device
    outputs are never reused), and a second call at the same shapes allocates
    nothing new (the intermediate `pre` keeps its buffer); another shape does."""
    _, _, outs = _blur_and_total()
    fn = hg.Pipeline(outs).compile(target="cuda")
    a, b2 = _image(rng), _image(rng)
    first = fn(inp=cuda.to_device(a), gain=1.0)
    kept = dict(fn.workspace.buffers)
    second = fn(inp=cuda.to_device(b2), gain=1.0)
    assert first[0] is not second[0]
    assert kept and fn.workspace.buffers.keys() == kept.keys()
    assert all(fn.workspace.buffers[k] is v for k, v in kept.items())
    fn(inp=cuda.to_device(_image(rng, (H + 2, W))), gain=1.0)
    assert len(fn.workspace.buffers) > len(kept)
    np.testing.assert_array_equal(first[0].copy_to_host(), fn(inp=a, gain=1.0)[0])
    np.testing.assert_array_equal(second[0].copy_to_host(), fn(inp=b2, gain=1.0)[0])


@pytest.mark.parametrize("wrong, message", [
    (np.zeros((H, W), np.float64), "expects dtype float32 but got float64"),
    (np.zeros((H, W, 2), np.float32), "has 2 dimension\\(s\\) but the array has 3"),
    (np.zeros((H, W), np.int32), "expects dtype float32 but got int32"),
], ids=["float64", "ndim3", "int32"])
def test_a_wrong_device_array_gets_the_numpy_arrays_input_error(wrong, message):
    _, _, outs = _blur_and_total()
    fn = hg.Pipeline(outs).compile(target="cuda")
    errors = []
    for value in (wrong, cuda.to_device(wrong)):
        with pytest.raises(hg.InputError, match=message) as info:
            fn(inp=value, gain=1.0)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_a_read_outside_an_input_gets_the_cpu_targets_bounds_error():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    out = hg.Func("unguarded")
    out[y, x] = inp[y, x - 1] + inp[y, x + 1]
    errors = []
    for target in ("cuda", "cpu"):
        with pytest.raises(hg.BoundsError) as info:
            hg.Pipeline(out).compile(target=target)(inp=np.ones((4, 5), np.float32))
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "over [-1, 5]" in errors[0]


def test_realize_and_source_for_cuda(rng):
    inp, _, (blur, _) = _blur_and_total()
    a = _image(rng)
    got = blur.realize([H, W], target="cuda", inp=a, gain=2.0)
    np.testing.assert_allclose(got, cpu_run(blur, inp=a, gain=2.0), rtol=1e-6)
    source = hg.Pipeline(blur).source(target="cuda")
    assert "@cuda.jit(cache=True)" in source and "def run(" in source


def test_profile_times_each_kernel_by_its_source_name(rng):
    _, _, outs = _blur_and_total()
    p = hg.Pipeline(outs)
    fn = p.compile(target="cuda")
    rows = fn.profile(inp=_image(rng), gain=1.0)
    kernels = set(re.findall(r"^def (kernel_\w+)\(", p.source(target="cuda"), re.M))
    assert rows and {name for name, _, _ in rows} <= kernels
    assert all(calls >= 1 and seconds >= 0 for _, calls, seconds in rows)


def test_missing_numba_cuda_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    _, _, outs = _blur_and_total()
    with pytest.raises(hg.InputError) as info:
        hg.Pipeline(outs).compile(target="cuda")
    message = str(info.value)
    assert "numba-cuda" in message and 'pip install "halogrid[cuda]"' in message
    assert 'target="cpu"' in message


def test_no_gpu_names_the_simulator_and_the_cpu_target(monkeypatch):
    monkeypatch.setattr(runtime, "simulated", lambda: False)
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    _, _, outs = _blur_and_total()
    with pytest.raises(hg.InputError) as info:
        hg.Pipeline(outs).compile(target="cuda")
    message = str(info.value)
    assert "no CUDA GPU" in message and "NUMBA_ENABLE_CUDASIM=1" in message
    assert "target='cpu'" in message


# ---- a real GPU only ---------------------------------------------------------------

@pytest.mark.gpu
def test_launches_go_on_the_callers_stream(rng):
    _, _, outs = _blur_and_total()
    fn = hg.Pipeline(outs).compile(target="cuda")
    a = _image(rng, (256, 384))
    stream = cuda.stream()
    blur, _ = fn(inp=cuda.to_device(a, stream=stream), gain=1.0, stream=stream)
    stream.synchronize()
    np.testing.assert_array_equal(blur.copy_to_host(), fn(inp=a, gain=1.0)[0])


@pytest.mark.gpu
def test_torch_cuda_tensors_are_used_zero_copy(rng):
    import torch  # the test extra's; a GPU machine needs its CUDA build
    assert torch.cuda.is_available(), "torch has no CUDA on this GPU machine"
    _, _, outs = _blur_and_total()
    fn = hg.Pipeline(outs).compile(target="cuda")
    a = _image(rng, (64, 96))
    t = torch.from_numpy(a).cuda()
    blur, total = fn(inp=t, gain=1.0, stream=torch.cuda.current_stream())
    torch.cuda.synchronize()
    assert _on_device(blur)
    back = torch.as_tensor(blur, device="cuda")  # zero copy the other way
    np.testing.assert_array_equal(back.cpu().numpy(), fn(inp=a, gain=1.0)[0])
    np.testing.assert_allclose(total.copy_to_host().item(), fn(inp=a, gain=1.0)[1].item(),
                               rtol=1e-5)


_CACHED_RUN = textwrap.dedent("""
    import numpy as np, halogrid as hg
    x, y = hg.Var("x"), hg.Var("y")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    blur = hg.Func("blur")
    blur[y, x] = (c[y, x - 1] + c[y, x] + c[y, x + 1]) / 3
    fn = hg.Pipeline(blur).compile(target="cuda")
    out = fn(inp=np.ones((64, 64), np.float32))
    assert np.allclose(out, 1.0)
    kernels = [k for n, k in vars(fn.module).items() if n.startswith("kernel_")]
    assert kernels and all(hasattr(k, "stats") for k in kernels)
    print(sum(sum(k.stats.cache_hits.values()) for k in kernels),
          sum(sum(k.stats.cache_misses.values()) for k in kernels))
""")


@pytest.mark.gpu
def test_a_second_process_launches_from_the_disk_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["HALOGRID_CACHE_DIR"] = str(tmp_path)
    counts = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _CACHED_RUN], env=env, timeout=300,
                              capture_output=True, text=True, check=True)
        counts.append(tuple(int(v) for v in done.stdout.split()[-2:]))
    (hits0, misses0), (hits1, misses1) = counts
    assert misses0 >= 1 and hits0 == 0       # compiled, then written to disk
    assert misses1 == 0 and hits1 == misses0  # every kernel loaded, none compiled


@pytest.mark.gpu
def test_a_warm_call_on_device_arrays_is_fast(rng):
    """A 2048x2048 stored-producer blur and its sum, device arrays in and out: kernels
    and launches only, no host copies. The bound is loose (5 ms for 4 megapixels; the
    traffic is ~50 MB, tens of microseconds at an H200's bandwidth)."""
    _, _, outs = _blur_and_total()
    fn = hg.Pipeline(outs).compile(target="cuda")
    a = cuda.to_device(_image(rng, (2048, 2048)))
    fn(inp=a, gain=1.0)
    cuda.synchronize()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn(inp=a, gain=1.0)
        cuda.synchronize()
        times.append(time.perf_counter() - start)
    assert sorted(times)[2] < 5e-3, times
