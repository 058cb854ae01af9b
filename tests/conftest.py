"""Shared fixtures: the real ingest of the real data/, built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.load import load_data_dir
from ingest.publish import make_datasette
from ingest.validate import KnowledgeBase, validate

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def run_cli(*args: str):
    """Invoke the regkb CLI in-process, as a maintainer would from the shell."""
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return validate(load_data_dir(DATA_DIR))


@pytest.fixture(scope="session")
def built_db(tmp_path_factory) -> Path:
    db_path = tmp_path_factory.mktemp("site") / "kb.db"
    result = run_cli("ingest", "--data", DATA_DIR, "--db", db_path)
    assert result.exit_code == 0, result.output
    return db_path


@pytest.fixture(scope="session")
def datasette(built_db):
    return make_datasette(built_db)


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """A writable copy of the real data folder, for tests that break it on purpose."""
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    return copy
