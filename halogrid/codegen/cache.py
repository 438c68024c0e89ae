"""Content-hashed compiled modules: in memory, and on disk under HALOGRID_CACHE_DIR.

The key hashes what the user wrote (every reachable definition, RDom, schedule, input
and Param type, the outputs, the target and library versions), computed before any
autodiff or lowering, so a hit skips all compiler work; Numba's own cache=True then
skips the LLVM compile. A module that fails to load is deleted and rebuilt.

Files: hg_<key>.py (the driver), hg_<key>.json (metadata, and the digest of each
kernel the driver calls), hg_k_<digest>.py (one kernel, named by the hash of its text:
pipelines that share a kernel share the file and what Numba compiled for it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile

import numba

from .. import config
from ..ir.expr import Expr
from ..ir.graph import Graph

_MEMORY: dict[str, tuple] = {}   # key -> (driver module, meta)
_KERNELS: dict[str, object] = {}  # kernel file path -> its compiled function
FORMAT_VERSION = "7"


@functools.lru_cache(maxsize=1)
def library_fingerprint() -> str:
    """Hash of halogrid's own source: a changed compiler never reuses old modules."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as fh:
                digest.update(name.encode() + fh.read())
    return digest.hexdigest()[:16]


class _Serializer:
    """Canonical text of a graph: objects become ordinals in first-seen order."""

    def __init__(self):
        self.ordinals: dict[int, int] = {}
        self.keep: list = []

    def obj(self, o) -> str:
        if id(o) not in self.ordinals:
            self.ordinals[id(o)] = len(self.ordinals)
            self.keep.append(o)
        return f"@{self.ordinals[id(o)]}"

    def expr(self, e) -> str:
        parts = [type(e).__name__]
        for value in e.fields():
            parts.append(self.value(value))
        return "(" + " ".join(parts) + ")"

    def value(self, v) -> str:
        if isinstance(v, Expr):
            return self.expr(v)
        if isinstance(v, tuple):
            return "[" + " ".join(self.value(x) for x in v) + "]"
        if isinstance(v, (int, float, str, bool)) or v is None or type(v).__name__ == "Type":
            return repr(v) if not isinstance(v, str) else json.dumps(v)
        if hasattr(v, "bounds") and hasattr(v, "predicates"):  # RDom
            if id(v) in self.ordinals:  # predicates refer to the RDom's own RVars
                return self.obj(v)
            ordinal = self.obj(v)
            return ordinal + self.value(tuple(e for b in v.bounds for e in b)) + \
                self.value(tuple(v.predicates))
        return self.obj(v)


def pipeline_key(graph: Graph, target: str, extra: str = "") -> str:
    """sha256 of the canonical description of everything that shapes the generated code."""
    from .. import __version__
    ser = _Serializer()
    parts = [FORMAT_VERSION, __version__, library_fingerprint(), numba.__version__, target, extra]
    for inp in graph.inputs:
        parts.append(f"input {ser.obj(inp)} {json.dumps(str(inp.name))} {inp.type()!r} "
                     f"{inp.dimensions()} {type(inp).__name__}")
    for p in graph.params:
        parts.append(f"param {ser.obj(p)} {json.dumps(str(p.name))} {p.type()!r}")
    for f in graph.funcs:
        sched = f.func_schedule.fingerprint(ser.obj) if f.func_schedule is not None else None
        parts.append(f"func {ser.obj(f)} {json.dumps(str(f.name))} {f.kind} {sched!r}")
        for d in f.definitions:
            stage_sched = d.schedule.fingerprint(ser.obj) if d.schedule is not None else None
            parts.append(" def " + ser.value(d.args) + " = " + ser.value(d.values)
                         + " rdoms " + " ".join(ser.value(r) for r in d.rdoms)
                         + f" sched {stage_sched!r}")
    parts.append("outputs " + " ".join(ser.obj(o) for o in graph.outputs))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _paths(key: str) -> tuple[str, str]:
    folder = config.cache_dir()
    return os.path.join(folder, f"hg_{key}.py"), os.path.join(folder, f"hg_{key}.json")


def _kernel_path(digest: str) -> str:
    return os.path.join(config.cache_dir(), f"hg_k_{digest}.py")


def lookup(key: str):
    """(module, meta) from memory or disk, or None on a miss."""
    if key in _MEMORY:
        return _MEMORY[key]
    py_path, meta_path = _paths(key)
    if not (os.path.exists(py_path) and os.path.exists(meta_path)):
        config.trace(1, f"cache miss {key}")
        return None
    try:
        with open(meta_path) as fh:
            meta = json.load(fh)
        module = _import_driver(key, py_path, meta["kernels"])
    except Exception as err:  # a corrupt entry is rebuilt, never fatal
        config.trace(1, f"cache entry {key} unreadable ({err}); rebuilding")
        for path in (py_path, meta_path):
            if os.path.exists(path):
                os.remove(path)
        return None
    config.trace(1, f"cache hit {key}")
    _MEMORY[key] = (module, meta)
    return _MEMORY[key]


def store(key: str, driver: str, kernels: dict[str, str], meta: dict):
    """Write the driver, its kernels (one file each, named by the hash of their text,
    so pipelines that share a kernel share its file and Numba's compiled code) and the
    metadata atomically, import them, and remember the module."""
    py_path, meta_path = _paths(key)
    os.makedirs(os.path.dirname(py_path), exist_ok=True)
    digests = {}
    for name, source in kernels.items():
        digest = hashlib.sha256(source.encode()).hexdigest()[:32]
        _write_if_changed(_kernel_path(digest), source)
        digests[name] = digest
    meta = {**meta, "kernels": digests}
    _atomic_write(meta_path, json.dumps(meta))
    _atomic_write(py_path, driver)
    module = _import_driver(key, py_path, digests)
    _MEMORY[key] = (module, meta)
    return _MEMORY[key]


def _write_if_changed(path: str, text: str) -> None:
    """Leave an identical file alone: rewriting it would change its mtime, which makes
    Numba drop the compiled code it caches for that file."""
    try:
        with open(path) as fh:
            if fh.read() == text:
                return
    except (OSError, UnicodeDecodeError):
        pass
    _atomic_write(path, text)


def _import_driver(key: str, path: str, digests: dict):
    """Import the driver, binding each kernel global to its kernel module's function."""
    # by path, not digest: a kernel's compiled code lives beside its file, in this
    # HALOGRID_CACHE_DIR
    new = sorted({d for d in digests.values() if _kernel_path(d) not in _KERNELS})
    _drop_unreadable_numba_caches([f"hg_{key}"] + [f"hg_k_{d}" for d in new])
    module = _import(f"hg_{key}", path)
    for digest in new:
        kernel_file = _kernel_path(digest)
        _KERNELS[kernel_file] = _import(f"hg_k_{digest}", kernel_file).kernel
    for name, digest in digests.items():
        setattr(module, name, _KERNELS[_kernel_path(digest)])
    return module


def _drop_unreadable_numba_caches(stems: list) -> None:
    """Delete Numba's cache files of a module in `stems` if any of its indexes fails to
    unpickle, so Numba recompiles instead of crashing on load. Lists the folder once
    (it holds the files of every pipeline ever cached)."""
    import pickle
    folder = os.path.join(config.cache_dir(), "__pycache__")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for stem in stems:
        files = [os.path.join(folder, n) for n in names if n.startswith(stem + ".")]
        for index in (f for f in files if f.endswith(".nbi")):
            try:
                with open(index, "rb") as fh:
                    pickle.load(fh)
            except Exception:  # any unreadable index: drop the whole entry
                config.trace(1, f"cache entry {stem}: corrupt Numba cache; rebuilding")
                for path in files:
                    os.remove(path)
                break


def _atomic_write(path: str, text: str) -> None:
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _import(stem: str, path: str):
    name = f"halogrid_cache.{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
