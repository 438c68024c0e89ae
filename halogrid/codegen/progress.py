"""Progress of a new pipeline's kernel compile: kernels compiled / total, on stderr.

Quiet unless the wait is long or someone is watching (config.progress_mode()):
  'auto' (default)  on a terminal: a tqdm bar (a line rewritten in place without tqdm);
                    elsewhere (tests, logs, CI) nothing until the compile has run for
                    config.progress_after() seconds (2 by default), then one line per
                    second at most while kernels remain, and a last line with the
                    count and the total time;
  'on'              those log lines from the first kernel, terminal or not;
  'off'             nothing.
Independently, HALOGRID_DEBUG>=1 prints every kernel's compile time (compile_jobs.py).
Invariant: reporting never changes what is compiled, and never raises for a stream
that cannot be written.
"""

from __future__ import annotations

import sys
import time

from .. import config

_PREFIX = "[halogrid] compiling kernels"
_LOG_EVERY = 1.0  # seconds between log lines once they are shown


class CompileProgress:
    """Counts compiled kernels of one module; `advance` after each, `close` at the end."""

    def __init__(self, total: int, stream=None, clock=time.perf_counter):
        self.total, self.count = total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = self.last_line = clock()
        self.mode = config.progress_mode()
        self.terminal = self.mode == "auto" and _is_terminal(self.stream)
        self.bar = _tqdm_bar(total, self.stream) if self.terminal else None
        self.logged = False

    def advance(self, n: int = 1) -> None:
        """`n` more kernels compiled."""
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.terminal:
            self._write(f"\r{self._text()}", end="")
        elif self._log_due():
            self._write(self._text())

    def close(self) -> None:
        elapsed = self.clock() - self.start
        if self.bar is not None:
            self.bar.close()
        elif self.terminal:
            self._write("")
        long = self.mode == "on" or elapsed > config.progress_after()
        if self.mode != "off" and not self.terminal and (self.logged or long):
            self._write(f"[halogrid] compiled {self.count} kernel(s) in {elapsed:.1f} s")

    def _text(self) -> str:
        return f"{_PREFIX}: {self.count}/{self.total} ({self.clock() - self.start:.1f} s)"

    def _log_due(self) -> bool:
        if self.mode == "off":
            return False
        now = self.clock()
        if self.mode == "auto" and now - self.start <= config.progress_after():
            return False
        if self.count == self.total or (self.logged and now - self.last_line < _LOG_EVERY):
            return False  # the last count is close()'s line
        self.logged, self.last_line = True, now
        return True

    def _write(self, text: str, end: str = "\n") -> None:
        try:
            print(text, end=end, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken stream: stay quiet
            pass


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _tqdm_bar(total: int, stream):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="halogrid: compiling kernels", unit="kernel", file=stream,
                leave=False)
