"""The linters ROS 2 packages run (ament_flake8 / ament_pep257), as one test: `ruff check` with the rules of
pyproject.toml (pyflakes, pycodestyle at the project's 120 columns, a pep257 subset)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if RUFF is None:
        pytest.skip("ruff is not installed (it is in requirements-ros.txt: pip install -r requirements-ros.txt)")
    return subprocess.run([RUFF, "check", "--no-cache", "--output-format", "concise", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    result = _ruff(".")
    assert result.returncode == 0, result.stdout + result.stderr
