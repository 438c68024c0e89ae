"""The compile cache repairs itself: a truncated file of any kind it wrote (driver,
kernel module, metadata, Numba's index and data files) costs the next process one
recompile and the right answer, and the process after it a clean hit. Two processes
compiling the same pipeline into one directory at once leave only whole files."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from halogrid.codegen.cache import digest_of

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import numpy as np
import halogrid as hg
import halogrid.codegen.cache as cache
cache.library_fingerprint = lambda: "fixed"  # keys stay put while halogrid is edited
y, x = hg.Var("y"), hg.Var("x")
inp = hg.ImageParam(hg.Float(32), 2, "inp")
edge = hg.BoundaryConditions.repeat_edge(inp)
prod = hg.Func("repair_prod")
prod[y, x] = edge[y, x - 1] * 2.0 + edge[y + 1, x]
prod.compute_root()
cons = hg.Func("repair_cons")
cons[y, x] = prod[y, x] - prod[y, x + 1] * 0.5
fn = hg.Pipeline([cons]).compile(target="cpu")
out = fn(inp=np.arange(12, dtype=np.float32).reshape(3, 4))
print("RESULT", out.ravel().tolist())
"""


def _expected() -> str:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    i, j = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")

    def edge(r, c):
        return a[np.clip(r, 0, 2), np.clip(c, 0, 3)]

    def prod(r, c):
        return edge(r, c - 1) * 2.0 + edge(r + 1, c)

    cons = prod(i, j) - prod(i, j + 1) * 0.5
    return "RESULT " + str(cons.astype(np.float32).ravel().tolist())


def _start(cache_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, HALOGRID_CACHE_DIR=str(cache_dir), HALOGRID_DEBUG="1",
               NUMBA_DEBUG_CACHE="1")  # prints "[cache] data loaded from ..."
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(cache_dir: Path) -> str:
    """Output of one fresh process; asserts it succeeded and printed the right values."""
    proc = _start(cache_dir)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _expected() in out, out + err
    return out + err


def _files(cache_dir: Path) -> dict:
    """One file of each kind the cache writes."""
    folder = cache_dir / "__pycache__"
    metas = sorted(cache_dir.glob("hg_*.json"))
    assert len(metas) == 1, metas
    key = metas[0].stem[len("hg_"):]
    kernels = sorted(cache_dir.glob("hg_k_*.py"))
    assert kernels
    return {"meta": metas[0], "driver": cache_dir / f"hg_{key}.py", "kernel": kernels[0],
            "numba index": sorted(folder.glob("hg_k_*.nbi"))[0],
            "numba data": sorted(folder.glob("hg_k_*.nbc"))[0]}


def _assert_whole(cache: Path) -> None:
    """Every module matches the digest the metadata records; no temporary file left."""
    assert not list(cache.rglob("*.tmp*")), list(cache.rglob("*.tmp*"))
    files = _files(cache)
    meta = json.loads(files["meta"].read_text())
    assert digest_of(files["driver"].read_bytes()) == meta["driver"]
    for digest in meta["kernels"].values():
        assert digest_of((cache / f"hg_k_{digest}.py").read_bytes()) == digest


def _truncate(path: Path) -> None:
    """Cut to about half; a Python module at a line end, so that what is left still
    parses (the case that once imported and failed later, with a NameError)."""
    data = path.read_bytes()
    cut = len(data) // 2
    if path.suffix == ".py":
        cut = data.rindex(b"\n", 0, cut) + 1
    path.write_bytes(data[:cut])


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("filled") / "cache"
    _run(cache)
    return cache


def test_expected_values_come_from_numpy():
    assert _expected().startswith("RESULT [") and len(_expected().split(",")) == 12


@pytest.mark.parametrize("kind", ["driver", "kernel", "meta", "numba index", "numba data"])
def test_a_truncated_cache_file_is_rebuilt_and_the_next_process_hits(kind, filled_cache,
                                                                     tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(filled_cache, cache)  # copy2: mtimes kept, Numba's index stays valid
    victim = _files(cache)[kind]
    _truncate(victim)
    err = _run(cache)
    assert "rebuilding" in err or "cache miss" in err, err
    err = _run(cache)
    assert "cache hit" in err and "rebuilding" not in err, err
    assert "data loaded from" in err and "data saved to" not in err, err  # Numba's too
    _assert_whole(cache)


def test_two_processes_compiling_one_pipeline_into_one_directory(tmp_path):
    cache = tmp_path / "cache"
    procs = [_start(cache) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert _expected() in out, out + err
    _assert_whole(cache)
    err = _run(cache)
    assert "cache hit" in err and "rebuilding" not in err, err
