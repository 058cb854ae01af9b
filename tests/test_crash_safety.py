"""An ingest killed (SIGKILL) at each meaningful point leaves a good kb.db, and the next ingest just works.

The points are fixed, not timed: the ingest kills itself where REGKB_CRASH_AT names
(ingest/atomic.py crash_point), so each run lands in a known state.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.atomic import CRASH_POINT_VARIABLE, CRASH_POINTS

from .conftest import DATA_DIR, VAT_FILE, edit_data_file, run_cli

# Where each kill point leaves kb.db: the old file untouched, or the new one complete.
EXPECTED = {"before-temporary": "old", "after-a-batch": "old", "while-writing": "old", "after-fsync": "old",
            "after-rename": "new"}


def ingest(data: Path, db_path: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment.pop(CRASH_POINT_VARIABLE, None)
    if crash_at:
        environment[CRASH_POINT_VARIABLE] = crash_at
    return subprocess.run([sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)],
                          capture_output=True, text=True, env=environment)


def state(db_path: Path) -> tuple[str, int]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        runs = connection.execute("select count(*) from ingest_runs").fetchone()[0]
        return integrity, runs
    finally:
        connection.close()


@pytest.fixture(scope="module")
def edited_data_and_base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    base = folder / "base.db"
    assert run_cli("ingest", "--data", DATA_DIR, "--db", base).exit_code == 0
    data = folder / "data"
    shutil.copytree(DATA_DIR, data)
    edit_data_file(data, VAT_FILE, lambda content: content["rules"][0].update(
        summary_en=content["rules"][0]["summary_en"] + " (edited)"))
    return data, base


def test_every_crash_point_is_tested():
    assert set(EXPECTED) == set(CRASH_POINTS)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_leaves_a_good_database_and_the_next_ingest_works(tmp_path, edited_data_and_base, point):
    data, base = edited_data_and_base
    db_path = tmp_path / "kb.db"
    shutil.copy(base, db_path)
    before = db_path.read_bytes()

    killed = ingest(data, db_path, crash_at=point)
    assert killed.returncode == -9, (point, killed.stderr[-500:])
    integrity, runs = state(db_path)
    assert integrity == "ok"
    if EXPECTED[point] == "old":
        assert db_path.read_bytes() == before
    else:
        assert runs == 2

    again = run_cli("ingest", "--data", data, "--db", db_path)  # the next ingest, as a maintainer would run it
    assert again.exit_code == 0, again.output
    assert state(db_path) == ("ok", runs + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kb.db.lock", "kb.db"]
