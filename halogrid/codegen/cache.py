"""Content-hashed compiled modules: in memory, and on disk under HALOGRID_CACHE_DIR.

The key hashes what the user wrote (every reachable definition, RDom, schedule, input
and Param type, the outputs, the target and library versions), computed before any
autodiff or lowering, so a hit skips all compiler work; Numba's own cache=True then
skips the LLVM compile. A module that fails to load is deleted and rebuilt.

Files: hg_<key>.py (the driver), hg_<key>.json (metadata, the digest of the driver's
text and of each kernel the driver calls), hg_k_<digest>.py (one kernel, named by the
hash of its text: pipelines that share a kernel share the file and what Numba compiled
for it), and Numba's index/data files (__pycache__/*.nbi, *.nbc) beside them.

Repair invariant: a cache file that is truncated or otherwise damaged costs one
recompile, never a failure. Every module's text is checked against its digest before
it runs (modules are compiled from that text: no .pyc is read or written); Numba's
files of a module are walked as pickles (without loading them) before its first
import in a process and dropped when any is incomplete. Every file is written to a
temporary name and renamed into place (os.replace), so processes compiling the same
pipeline into one directory at once never see a torn file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import pickletools
import re
import sys
import tempfile
import types

import numba

from .. import config
from ..ir.expr import Expr
from ..ir.graph import Graph
from ..schedule.defaults import schedule_of
from ..schedule.state import initial_stage_schedule

_MEMORY: dict[str, tuple] = {}   # key -> (driver module, meta)
_KERNELS: dict[str, object] = {}  # kernel file path -> its compiled function
FORMAT_VERSION = "8"


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

    def __init__(self, params=()):
        self.ordinals: dict[int, int] = {}
        self.keep: list = []
        self.param_ids = {id(p) for p in params}  # listed with name and type on their own

    def obj(self, o) -> str:
        if id(o) not in self.ordinals:
            self.ordinals[id(o)] = len(self.ordinals)
            self.keep.append(o)
        return f"@{self.ordinals[id(o)]}"

    def expr(self, e) -> str:
        if id(e) in self.param_ids:  # a Param node holds a per-object uid
            return f"(Param {self.obj(e)})"
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
    ser = _Serializer(graph.params)
    parts = [FORMAT_VERSION, __version__, library_fingerprint(), numba.__version__, target, extra]
    for inp in graph.inputs:
        parts.append(f"input {ser.obj(inp)} {json.dumps(str(inp.name))} {inp.type()!r} "
                     f"{inp.dimensions()} {type(inp).__name__}")
    for p in graph.params:
        parts.append(f"param {ser.obj(p)} {json.dumps(str(p.name))} {p.type()!r}")
    rdoms: dict = {}  # RDom name -> its canonical id: loop names carry RDom names
    for f in graph.funcs:  # effective schedules: no directive hashes as the default
        for d in f.definitions:
            for r in d.rdoms:
                rdoms.setdefault(str(r.name), ser.obj(r))
    for f in graph.funcs:
        sched = _canonical_loops(repr(schedule_of(f).fingerprint(ser.obj)), rdoms)
        parts.append(f"func {ser.obj(f)} {json.dumps(str(f.name))} {f.kind} {sched}")
        for d in f.definitions:
            stage_sched = (d.schedule or initial_stage_schedule(d)).fingerprint(ser.obj)
            parts.append(" def " + ser.value(d.args) + " = " + ser.value(d.values)
                         + " rdoms " + " ".join(ser.value(r) for r in d.rdoms)
                         + f" sched {_canonical_loops(repr(stage_sched), rdoms)}")
    parts.append("outputs " + " ".join(ser.obj(o) for o in graph.outputs))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _canonical_loops(text: str, rdoms: dict) -> str:
    """A schedule's text with each RDom's (counter-made) name replaced by its canonical
    id, where it starts a loop name ('r3.x', 'r3.x.chunk'): two builds of one pipeline
    in one process name their RDoms r3 and r15, and must share a key."""
    if not rdoms:
        return text
    pattern = re.compile(r"(['\"])(" + "|".join(re.escape(n) for n in rdoms) + r")\.")
    return pattern.sub(lambda m: f"{m.group(1)}{rdoms[m.group(2)]}.", text)


def _paths(key: str) -> tuple[str, str]:
    folder = config.cache_dir()
    return os.path.join(folder, f"hg_{key}.py"), os.path.join(folder, f"hg_{key}.json")


def _kernel_path(digest: str) -> str:
    return os.path.join(config.cache_dir(), f"hg_k_{digest}.py")


class CorruptFile(Exception):
    """A cache file whose content does not match what was written (truncated, torn,
    overwritten): the entry it belongs to is rebuilt, and `path` removed."""

    def __init__(self, path: str):
        super().__init__(f"{os.path.basename(path)} does not match its digest")
        self.paths = (path,)


def digest_of(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()[:32]


def lookup(key: str):
    """(module, meta) from memory or disk, or None on a miss (a damaged entry is a miss:
    its files are removed, so the caller rebuilds it)."""
    if key in _MEMORY:
        return _MEMORY[key]
    py_path, meta_path = _paths(key)
    if not (os.path.exists(py_path) and os.path.exists(meta_path)):
        config.trace(1, f"cache miss {key}")
        return None
    try:
        with open(meta_path, "rb") as fh:
            meta = json.loads(fh.read())
        module = _import_driver(key, py_path, meta["driver"], meta["kernels"])
    except Exception as err:  # a corrupt entry is rebuilt, never fatal
        config.trace(1, f"cache entry {key} unreadable ({type(err).__name__}: {err}); "
                        "rebuilding")
        _remove(py_path, meta_path, *getattr(err, "paths", ()))
        return None
    config.trace(1, f"cache hit {key}")
    _MEMORY[key] = (module, meta)
    return _MEMORY[key]


def store(key: str, driver: str, kernels: dict[str, str], meta: dict):
    """Write the driver, its kernels (one file each, named by the hash of their text,
    so pipelines that share a kernel share its file and Numba's compiled code) and the
    metadata atomically, import them, and remember the module. The metadata is written
    last: a reader that finds it finds complete modules."""
    py_path, meta_path = _paths(key)
    os.makedirs(os.path.dirname(py_path), exist_ok=True)
    digests = {}
    for name, source in kernels.items():
        digests[name] = digest_of(source.encode())
        _write_if_changed(_kernel_path(digests[name]), source)
    meta = {**meta, "driver": digest_of(driver.encode()), "kernels": digests}
    _atomic_write(py_path, driver)
    _atomic_write(meta_path, json.dumps(meta))
    module = _import_driver(key, py_path, meta["driver"], digests)
    _MEMORY[key] = (module, meta)
    return _MEMORY[key]


def entry_sources(key: str) -> tuple[str, dict[str, str], dict]:
    """(driver source, {kernel global name: kernel source}, metadata) of a stored entry:
    what `store` needs to recreate it in another process or machine (hg.dask ships it
    to its workers)."""
    py_path, meta_path = _paths(key)
    with open(meta_path, encoding="utf-8") as fh:
        meta = json.load(fh)
    with open(py_path, encoding="utf-8") as fh:
        driver = fh.read()
    kernels = {}
    for name, digest in meta["kernels"].items():
        with open(_kernel_path(digest), encoding="utf-8") as fh:
            kernels[name] = fh.read()
    return driver, kernels, {k: v for k, v in meta.items() if k not in ("driver", "kernels")}


def _write_if_changed(path: str, text: str) -> None:
    """Leave an identical file alone: rewriting it would change its mtime, which makes
    Numba drop the compiled code it caches for that file. A missing file is created
    without replacing one another process creates meanwhile (same content: its name
    is the hash of its text)."""
    try:
        with open(path, "rb") as fh:
            damaged = fh.read() != text.encode()
    except FileNotFoundError:
        _atomic_write(path, text, replace=False)
        return
    if damaged:
        _atomic_write(path, text)


def _import_driver(key: str, path: str, driver_digest: str, digests: dict):
    """Import the driver, binding each kernel global to its kernel module's function."""
    # by path, not digest: a kernel's compiled code lives beside its file, in this
    # HALOGRID_CACHE_DIR
    new = sorted({d for d in digests.values() if _kernel_path(d) not in _KERNELS})
    _drop_unreadable_numba_caches([f"hg_{key}"] + [f"hg_k_{d}" for d in new])
    module = _import(f"hg_{key}", path, driver_digest)
    for digest in new:
        kernel_file = _kernel_path(digest)
        _KERNELS[kernel_file] = _import(f"hg_k_{digest}", kernel_file, digest).kernel
    for name, digest in digests.items():
        setattr(module, name, _KERNELS[_kernel_path(digest)])
    return module


def _drop_unreadable_numba_caches(stems: list) -> None:
    """Delete Numba's cache files of a module in `stems` if any of them is not a
    complete pickle (an index holds two: Numba's version, then the entries), so Numba
    recompiles instead of failing on load. The files are walked opcode by opcode, not
    unpickled (a data file imports the module it was compiled from). Lists the folder
    once (it holds the files of every pipeline ever cached)."""
    folder = os.path.join(config.cache_dir(), "__pycache__")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for stem in stems:
        files = [os.path.join(folder, n) for n in names if n.startswith(stem + ".")]
        checked = [(p, 2 if p.endswith(".nbi") else 1) for p in files
                   if p.endswith((".nbi", ".nbc"))]
        if not all(_pickles_complete(p, n) for p, n in checked):
            config.trace(1, f"cache entry {stem}: corrupt Numba cache; rebuilding")
            _remove(*files)


def _pickles_complete(path: str, count: int) -> bool:
    """Whether the file holds exactly `count` complete pickles (a vanished file is
    fine: Numba compiles when its file is missing)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return True
    stream = io.BytesIO(data)
    try:
        for _ in range(count):
            for _ in pickletools.genops(stream):
                pass
    except Exception:  # any malformed stream: pickletools raises ValueError and others
        return False
    return stream.tell() == len(data)


def _remove(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _atomic_write(path: str, text: str, replace: bool = True) -> None:
    """Write `text` to a temporary file in the same folder and rename it into place;
    with replace=False an existing file (another process's) wins."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:  # as digest_of and readers
            fh.write(text)
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system: the same text, renamed
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def _import(stem: str, path: str, digest: str):
    """Run a cached module from its text, after checking the text against `digest`.
    Compiled here rather than imported: the import system would read and write a .pyc
    beside it, one more file that could be damaged. Registered in sys.modules under
    its name: Numba's cached code finds its globals through it."""
    with open(path, "rb") as fh:
        text = fh.read()
    if digest_of(text) != digest:
        raise CorruptFile(path)
    name = f"halogrid_cache.{stem}"
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(compile(text, path, "exec"), module.__dict__)
    return module
