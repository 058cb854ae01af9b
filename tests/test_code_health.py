"""Lint, format and type checks, run as tests so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [
    ["ruff", "check", "ingest", "plugins", "tests", "benchmarks"],
    ["ruff", "format", "--check", "ingest", "plugins"],
    ["mypy"],
], ids=["ruff-check", "ruff-format", "mypy"])
def test_the_code_passes(command):
    result = subprocess.run([sys.executable, "-m", *command], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
