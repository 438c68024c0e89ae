"""Loads an example script of examples/ as a module, for the tests of the examples (the
test files' folder is on sys.path under pytest's default import mode)."""

import functools
import importlib.util
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@functools.cache  # one module per example, so its cached pipelines serve every test
def load_example(name: str):
    """examples/<name>.py as a module (its `common` import resolved), loaded once."""
    sys.path.insert(0, str(EXAMPLES))  # the examples import their shared `common`
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module
