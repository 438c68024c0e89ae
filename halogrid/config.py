"""Every environment switch of halogrid, read in one place, and the trace() logger.

HALOGRID_DEBUG    0..4: 1 compile timings and cache misses, 2 loop nests,
                  3 IR after each pass, 4 generated source.
HALOGRID_CHECK    1: verify IR between passes (always on under pytest).
HALOGRID_DUMP_DIR write what the debug level prints into files there.
HALOGRID_CACHE_DIR where compiled modules live (default: the user cache dir).
"""

from __future__ import annotations

import os
import sys


def debug_level() -> int:
    try:
        return int(os.environ.get("HALOGRID_DEBUG", "0"))
    except ValueError:
        return 0


def check_enabled() -> bool:
    return os.environ.get("HALOGRID_CHECK", "0") not in ("", "0") or "pytest" in sys.modules


def dump_dir() -> str | None:
    return os.environ.get("HALOGRID_DUMP_DIR") or None


def cache_dir() -> str:
    explicit = os.environ.get("HALOGRID_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "halogrid")


def trace(level: int, title: str, body: object = "") -> None:
    """Print (and optionally dump) `body` under `title` when HALOGRID_DEBUG >= level."""
    if debug_level() < level:
        return
    text = f"[halogrid] {title}" + (f"\n{body}" if body != "" else "")
    print(text, file=sys.stderr)
    folder = dump_dir()
    if folder:
        os.makedirs(folder, exist_ok=True)
        safe = "".join(c if c.isalnum() else "_" for c in title)[:80]
        with open(os.path.join(folder, safe + ".txt"), "a") as out:
            out.write(text + "\n")
