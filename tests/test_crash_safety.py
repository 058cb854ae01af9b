"""An ingest killed at any moment (SIGKILL) leaves the previous kb.db intact, and the next ingest just works."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .conftest import DATA_DIR, run_cli

KILL_POINTS = 12


def ingest_command(data: Path, db_path: Path) -> list[str]:
    return [sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)]


def state(db_path: Path) -> tuple[str, int]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        runs = connection.execute("select count(*) from ingest_runs").fetchone()[0]
        return integrity, runs
    finally:
        connection.close()


def test_sigkill_at_any_point_leaves_a_good_database(tmp_path, data_copy):
    base = tmp_path / "base.db"
    assert run_cli("ingest", "--data", DATA_DIR, "--db", base).exit_code == 0
    path = data_copy / "th" / "th-revenue-code-amendment-53.yml"
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    content["rules"][0]["summary_en"] += " (edited)"
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")

    timing = tmp_path / "timing.db"
    shutil.copy(base, timing)
    started = time.monotonic()
    subprocess.run(ingest_command(data_copy, timing), check=True, capture_output=True)
    duration = time.monotonic() - started

    outcomes = {"old": 0, "new": 0}
    for point in range(KILL_POINTS):
        db_path = tmp_path / f"kill-{point}" / "kb.db"
        db_path.parent.mkdir()
        shutil.copy(base, db_path)
        before = db_path.read_bytes()
        process = subprocess.Popen(ingest_command(data_copy, db_path), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(duration * (point + 0.5) / KILL_POINTS)
        process.send_signal(signal.SIGKILL)
        process.wait()
        integrity, runs = state(db_path)
        assert integrity == "ok"
        if runs == 1:
            assert db_path.read_bytes() == before
            outcomes["old"] += 1
        else:
            assert runs == 2
            outcomes["new"] += 1
        result = subprocess.run(ingest_command(data_copy, db_path), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert state(db_path) == ("ok", runs + 1)
        assert sorted(p.name for p in db_path.parent.iterdir()) == [".kb.db.lock", "kb.db"]
    assert outcomes["old"] >= KILL_POINTS // 2, outcomes
    print(f"kill points: {KILL_POINTS}, survived: {KILL_POINTS}, old kept: {outcomes['old']}, "
          f"new complete: {outcomes['new']}, ingest took {duration:.2f} s")
