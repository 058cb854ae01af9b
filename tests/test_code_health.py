"""Lint, format and type checks, run as tests so the README's one test command covers them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


# mypy keeps its incremental cache beside the user's other caches, so a fresh clone re-checks only what changed.
MYPY_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regkb" / "mypy"


@pytest.mark.parametrize("command", [
    ["ruff", "check", "ingest", "plugins", "tests", "benchmarks"],
    ["ruff", "format", "--check", "ingest", "plugins"],
    ["mypy", "--cache-dir", str(MYPY_CACHE)],
], ids=["ruff-check", "ruff-format", "mypy"])
def test_the_code_passes(command):
    result = subprocess.run([sys.executable, "-m", *command], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
