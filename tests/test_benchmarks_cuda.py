"""The GPU benchmark suite (`python -m benchmarks --target cuda`, benchmarks/cuda*.py)
on a machine without a GPU: the command's guards, the probe in numba's simulator, a
cell's rows against the float64 oracles with CPU stand-ins for the device systems
(PyTorch's forwards and halogrid's builders, the same code the GPU runs), the report's
floors, ratios and target lines, and the peak-memory counter's bookkeeping."""

import ctypes
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from benchmarks import (agreement, cuda, cuda_cell, cuda_report, harness, numba_memory,
                        run, systems)
from benchmarks.peers import halogrid_impl, torch_cuda
from benchmarks.report import add_halogrid_ratios
from benchmarks.workloads import WORKLOADS

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEAK = 123 * 2**20


def _stand_in(builders, to_device):
    """A device system (cuda_cell's interface) that runs on the CPU."""
    return types.SimpleNamespace(BUILDERS=builders, to_device=to_device, wait=lambda r: r,
                                 memory_reset=lambda: None, memory_peak=lambda: PEAK,
                                 check=lambda: None, VERSION="stand-in", MEMORY="none")


def _torch_on_cpu():
    return _stand_in(torch_cuda.BUILDERS, lambda t: {k: torch.from_numpy(v) for k, v in t.items()})


def _as_tensors(build):
    """A torch builder whose functions also take NumPy arrays (as halogrid's do)."""
    def built(example):
        fns = build(example)
        return tuple(lambda t, fn=fn: fn({k: torch.as_tensor(v) for k, v in t.items()})
                     for fn in fns)
    return built


def _torch_as_halogrid():
    """Stands in for halogrid in a whole run: cheap to build, takes NumPy arrays too."""
    return _stand_in({k: _as_tensors(b) for k, b in torch_cuda.BUILDERS.items()},
                     lambda t: {k: torch.from_numpy(v) for k, v in t.items()})


def _python(args, **env):
    clean = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          cwd=ROOT, env={**clean, **env}, timeout=120)


def test_no_gpu_exits_2_with_one_line_naming_the_simulator():
    proc = _python(["-m", "benchmarks", "--target", "cuda"], CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPU" in lines[0]
    assert "NUMBA_ENABLE_CUDASIM=1" in lines[0] or "no usable CUDA GPU" in lines[0]


def test_without_numba_cuda_exits_2_naming_the_extra(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    with pytest.raises(SystemExit) as exit_:
        cuda.main(["--target", "cuda"])
    assert exit_.value.code == 2
    assert 'pip install "halogrid[cuda]"' in capsys.readouterr().err


def test_probe_in_the_simulator(tmp_path):
    proc = _python(["-m", "benchmarks.cuda_probe", "--megabytes", "4", "--out", str(tmp_path)],
                   NUMBA_ENABLE_CUDASIM="1")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "cell.json").read_text())
    assert record["status"] == "ok" and record["simulator"] is True
    assert record["copy_megabytes"] == 4 and record["copy_gbs"] > 0


def test_cli_keeps_cpu_default_and_sorts_gpu_sizes():
    assert run.parse([]).target == "cpu"
    assert run._target(["--sizes", "tiny", "--target", "cuda", "--dry"]) == "cuda"
    assert cuda.parse(["--dry"]).sizes == ["tiny"]
    args = cuda.parse(["--sizes", "S4,S1", "--workloads", "W4,W1",
                       "--systems", "jax,torch,halogrid"])
    assert args.sizes == ["S1", "S4"]
    assert cuda._plan(args) == [
        ("time", "halogrid", "W4"), ("time", "torch", "W4"), ("time", "halogrid", "W1"),
        ("time", "torch", "W1"), ("time", "jax", "W4"), ("time", "jax", "W1"),
        ("start", "halogrid", "W4"), ("start", "halogrid", "W1")]


def _checked_rows(system, name, workload, sizes, host_io=False):
    rows, arrays = cuda_cell.time_sizes(system, name, workload, sizes, host_io,
                                        cuda_cell.DRY_REPS)
    for row, out in zip(rows, arrays):
        ref = agreement.reference(workload, cuda_cell.inputs_at(workload, row["size_key"]))
        row.update(agreement.compare(row, out, ref))
    return rows


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_torch_cuda_forwards_on_cpu_tensors_match_the_oracles(workload):
    (row,) = _checked_rows(_torch_on_cpu(), "torch", workload, ["tiny"])
    assert row["status"] == "ok" and row["peak_mb"] == 123
    assert row["size"] == ("16x8x8" if workload == "W2" else "tiny")
    assert row["fwd_rel_err"] < 1e-4 and row["grad_rel_diff_max"] < 1e-3
    assert row["loss_rel_err"] < 1e-5


def test_halogrid_builder_serves_every_size():
    """One halogrid builder (W6: two forward outputs) for tiny and Q, as a GPU cell
    uses it; the forward's output shape follows each call's inputs."""
    builders = {"W6": halogrid_impl._builder(*halogrid_impl.SPECS["W6"], target="cpu")}
    rows = _checked_rows(_stand_in(builders, dict), "halogrid", "W6", ["tiny", "Q"])
    assert [r["size"] for r in rows] == ["tiny", "Q"]
    for row in rows:
        assert row["status"] == "ok" and row["fwd_rel_err"] < 1e-4, row
        assert row["grad_rel_diff_max"] < 1e-4
    assert rows[0]["compile_s"] > rows[1]["compile_s"] >= 0  # built once, at the first size


def _cells_in_this_process(tmp_path):
    """harness.run_module for cuda.main: the probe's record made up, each cell run by
    cuda_cell.main here (its files read back as the subprocess's would be)."""
    def run_module(module, args, record, timeout_s, env=None):
        if module == "benchmarks.cuda_probe":
            return {"status": "ok", "device": "stand-in", "compute_capability": [9, 0],
                    "copy_megabytes": 16, "copy_gbs": 100.0}, {}
        out = tmp_path / f"cell{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        cuda_cell.main(args + ["--out", str(out)])
        npz = out / "cell.npz"
        return (json.loads((out / "cell.json").read_text()),
                dict(np.load(npz)) if npz.exists() else {})
    return run_module


def test_whole_run_with_stand_ins(tmp_path, monkeypatch, capsys):
    """cuda.main end to end, cells in this process on CPU stand-ins: rows in order,
    every result (both sizes from one builder, the NumPy-io row) against the oracles,
    floors, ratios, the cached start, the printed report."""
    stand_ins = {"torch": _torch_on_cpu(), "halogrid": _torch_as_halogrid()}
    monkeypatch.setattr(harness, "run_module", _cells_in_this_process(tmp_path / "cells"))
    monkeypatch.setattr(systems, "load", lambda name, registry: stand_ins[name])
    (tmp_path / "cells").mkdir()
    assert cuda.main(["--target", "cuda", "--dry", "--sizes", "tiny,Q", "--workloads", "W1",
                      "--systems", "torch,halogrid", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "cuda_report.json").read_text())
    rows = [(r["size"], r["system"]) for r in report["rows"]]
    assert rows == [("tiny", "torch"), ("tiny", "halogrid"), ("tiny", "halogrid numpy-io"),
                    ("Q", "torch"), ("Q", "halogrid"), ("Q", "halogrid numpy-io")]
    for row in report["rows"]:
        assert row["status"] == "ok" and row["grad_rel_diff_max"] < 1e-3, row
        assert row["grad_over_floor"] > 0 and row["grad_vs_halogrid"] > 0
    tiny, q = report["rows"][1], report["rows"][4]  # halogrid: one builder for both sizes
    assert tiny["compile_s"] >= 0 and q["compile_s"] >= 0 and tiny["cached_s"] >= 0
    printed = capsys.readouterr().out
    assert "device-to-device copy (16 MB, read + write): 100 GB/s" in printed
    assert "W1 Q: fwd+grad" in printed  # the targets, at the largest size


def _row(system, grad_ms, peak_mb):
    return {"system": system, "workload": "W4", "size": "S4", "size_key": "S4",
            "status": "ok", "fwd": {"median_ms": grad_ms / 4}, "grad": {"median_ms": grad_ms},
            "peak_mb": peak_mb}


def test_report_floors_ratios_and_targets():
    inputs = cuda_cell.inputs_at("W4", "tiny")  # inp 32x32x3, guide 32x32, A 2x2x8x3x4
    fwd_bytes, grad_bytes = cuda_report.floor_bytes(
        inputs, (np.zeros((32, 32, 3)),), WORKLOADS["W4"].grad_names)
    assert fwd_bytes == 4 * (3072 + 1024 + 384) + 4 * 3072
    assert grad_bytes == 4 * (3072 + 1024 + 384 + 3072) + 4 * (384 + 1024 + 3072) + 4
    rows = [_row("halogrid", 1.0, 90.0), _row("torch", 2.5, 80.0),
            {"system": "jax", "workload": "W4", "size": "S4", "size_key": "S4",
             "status": "not available: no module jax"}]
    add_halogrid_ratios(rows)
    cuda_report.add_floors(rows, {("W4", "S4"): (1e9, 1e8)}, copy_gbs=1000.0)
    assert rows[1]["grad_vs_halogrid"] == pytest.approx(2.5)
    assert rows[0]["grad_floor_ms"] == pytest.approx(0.1)
    assert rows[0]["grad_over_floor"] == pytest.approx(10.0)
    (line,) = cuda_report.targets(rows)
    assert "2.50x PyTorch's speed (target >= 3x: NOT met)" in line
    assert "peak 90 MB vs 80 MB (NOT met)" in line
    assert "10.0x its memory-traffic floor of 0.100 ms (target <= 5x: NOT met)" in line
    table = cuda_report.text_table(rows)
    assert "not available: no module jax" in table.splitlines()[-1]


def test_memory_counter_bookkeeping(monkeypatch):
    monkeypatch.setattr(numba_memory, "_COUNT", {"live": 0, "peak": 0})
    monkeypatch.setattr(numba_memory, "_SIZES", {})
    numba_memory._allocated(ctypes.c_void_p(4096), 10)
    numba_memory._allocated(8192, 5)
    assert (numba_memory.live_bytes(), numba_memory.peak_bytes()) == (15, 15)
    numba_memory._released(4096)
    numba_memory._released(12288)  # not a counted allocation (pinned host memory)
    assert (numba_memory.live_bytes(), numba_memory.peak_bytes()) == (5, 15)
    numba_memory.reset_peak()
    assert numba_memory.peak_bytes() == 5


def test_memory_counter_installs_as_numbas_manager():
    """Without a GPU: the plugin class is accepted and counts a release queued through
    its deallocation queue (a fresh process: the manager is numba's global state)."""
    code = ("from benchmarks import numba_memory as m\n"
            "assert m.install() is None\n"
            "import logging\n"
            "from numba.cuda.cudadrv import driver\n"
            "driver._logger = logging.getLogger('numba.cuda')  # set by driver init (GPU)\n"
            "manager = driver._memory_manager(context=None)\n"
            "m._allocated(4096, 100)\n"
            "manager.deallocations.add_item(lambda handle: None, 4096, 100)\n"
            "print(m.live_bytes(), m.peak_bytes())\n")
    proc = _python(["-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "100"]
