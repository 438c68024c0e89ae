"""The documentation's code runs: docs/tutorial.md section by section in one session (as
a reader would paste it), each Python block of README.md on its own, and the README's
test command prints pytest's summary line."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _sections() -> dict[str, list[str]]:
    """{'## heading': [its python blocks]} in document order."""
    sections, current = {}, None
    for part in re.split(r"^(## .*)$", TUTORIAL.read_text(), flags=re.M):
        if part.startswith("## "):
            current = part.strip()
            sections[current] = []
        elif current is not None:
            sections[current] += _BLOCK.findall(part)
    return sections


SECTIONS = _sections()


@pytest.fixture(scope="module")
def session():
    """One namespace for the whole tutorial, as one interactive session."""
    return {"__name__": "tutorial"}


def test_the_tutorial_has_its_five_sections():
    titles = [t.split(". ", 1)[-1] for t in SECTIONS]
    assert titles == ["An algorithm", "A schedule", "Gradients", "PyTorch", "dask"], titles
    assert all(SECTIONS.values())


@pytest.mark.parametrize("title", list(SECTIONS))
def test_tutorial_section_runs(title, session, tmp_path, monkeypatch):
    for i, block in enumerate(SECTIONS[title]):
        exec(compile(block, f"{TUTORIAL.name}:{title}:block{i}", "exec"), session)


@pytest.mark.parametrize("index", range(len(_BLOCK.findall(README.read_text()))))
def test_readme_python_block_runs_on_its_own(index, capsys):
    block = _BLOCK.findall(README.read_text())[index]
    exec(compile(block, f"README.md:block{index}", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    if "propagate_adjoints" in block:  # the adjoints come back in their inputs' shapes
        assert "(3, 3) (32, 40)" in printed


def test_readme_setup_lines_come_first():
    lines = README.read_text().splitlines()
    commands = [line for line in lines[:6] if line.startswith("pip install")]
    assert len(commands) == 2 and "pytest -q" in commands[1]


def test_the_readme_test_command_prints_the_summary_line(tmp_path):
    """`python -m pytest -q` with the project's configuration (a second -q from addopts
    would hide the "N passed" line)."""
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                           str(tmp_path / "test_one.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^1 passed", proc.stdout, re.M), proc.stdout
