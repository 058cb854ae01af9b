"""The real ingest of data/: tables, keys, indexes, determinism, atomic replacement."""

from __future__ import annotations

import datetime as dt
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from ingest import figures
from ingest.models import COUNTRY_OF, ORIGIN_OF, TABLE_MODELS, Figure
from ingest.publish import PROJECT_DIR

from .conftest import DATA_DIR, VAT_FILE, edit_data_file, run_cli


def test_every_contract_table_is_built_with_model_columns_in_order(built_db):
    db = sqlite_utils.Database(built_db)
    for table, model in TABLE_MODELS.items():
        assert db[table].exists(), table
        assert [column.name for column in db[table].columns] == model.column_names(), table


def test_row_counts_match_the_data_files(built_db, kb):
    db = sqlite_utils.Database(built_db)
    assert db["rules"].count == len(kb.rules) > 0
    assert db["instruments"].count == len(kb.instruments) > 0
    assert db["sources"].count == sum(len(rule.sources) for rule in kb.rules)
    assert db["comparison"].count == db["dimensions"].count == len(kb.dimensions)


def test_foreign_keys_are_declared_and_hold(built_db):
    db = sqlite_utils.Database(built_db)
    rule_keys = {(fk.column, fk.other_table) for fk in db["rules"].foreign_keys}
    assert {("instrument_id", "instruments"), ("authority_id", "authorities"),
            ("dimension_id", "dimensions")} <= rule_keys
    assert ("authority_id", "authorities") in {(fk.column, fk.other_table) for fk in db["instruments"].foreign_keys}
    assert ("rule_id", "rules") in {(fk.column, fk.other_table) for fk in db["sources"].foreign_keys}
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_facet_columns_are_indexed(built_db):
    db = sqlite_utils.Database(built_db)
    for table, model in TABLE_MODELS.items():
        indexed = {tuple(index.columns) for index in db[table].indexes}
        for column in model.indexed:
            assert (column,) in indexed, (table, column)


def test_rules_inherit_country_origin_and_instrument(built_db, kb):
    db = sqlite_utils.Database(built_db)
    for instrument in kb.instruments:
        expected, origin = COUNTRY_OF[instrument.jurisdiction], ORIGIN_OF[instrument.jurisdiction]
        for row in db["rules"].rows_where("instrument_id = ?", [instrument.id]):
            assert (row["jurisdiction"], row["origin"]) == (expected, origin)


def test_currency_thresholds_get_a_eur_value_and_rate_date(built_db):
    db = sqlite_utils.Database(built_db)
    rows = list(db["rules"].rows_where("threshold_unit in ('THB', 'USD')"))
    for row in rows:
        rate = db.execute("select eur_per_unit from fx_rates where currency = ? and date = ?",
                          [row["threshold_unit"], row["threshold_fx_date"]]).fetchone()
        assert rate is not None, row["id"]
        assert row["threshold_eur"] == round(row["threshold_amount"] * rate[0], 2)
    for row in db["rules"].rows_where("threshold_unit = 'EUR'"):
        assert row["threshold_eur"] == row["threshold_amount"]


def test_the_build_is_deterministic(tmp_path, built_db):
    """The same data gives the same rows; only the ingest's own timestamps differ."""
    again = tmp_path / "again.db"
    assert run_cli("ingest", "--data", DATA_DIR, "--db", again).exit_code == 0
    first, second = sqlite_utils.Database(built_db), sqlite_utils.Database(again)
    assert first.table_names() == second.table_names()
    for table in first.table_names():
        if table.startswith("sqlite_"):
            continue
        timestamps = {"at"} if table in ("changes", "ingest_runs") else set()
        columns = [c.name for c in first[table].columns if c.name not in timestamps]
        select = f"select {', '.join(f'[{c}]' for c in columns)} from [{table}]"
        assert sorted(map(repr, first.execute(select))) == sorted(map(repr, second.execute(select))), table


def test_ingest_replaces_the_database_and_leaves_no_temporary_file(tmp_path):
    db_path = tmp_path / "kb.db"
    sqlite_utils.Database(db_path)["older"].insert({"id": 1})
    result = run_cli("ingest", "--data", DATA_DIR, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert not sqlite_utils.Database(db_path)["older"].exists()
    assert sqlite_utils.Database(db_path)["rules"].count > 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [".kb.db.lock", "kb.db"]


def test_check_validates_without_writing(data_copy, monkeypatch):
    """`regkb check` reads data/ and writes nothing: not the data files, not a kb.db, not a lock or temporary."""
    def files(folder: Path) -> dict[str, tuple[int, int]]:
        return {str(path): (path.stat().st_mtime_ns, path.stat().st_size) for path in folder.rglob("*")}

    workdir = data_copy.parent
    monkeypatch.chdir(workdir)
    before = files(workdir)
    project_db = PROJECT_DIR / "kb.db"
    db_before = project_db.stat().st_mtime_ns if project_db.exists() else None
    result = run_cli("check", "--data", data_copy)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")
    assert files(workdir) == before
    assert (project_db.stat().st_mtime_ns if project_db.exists() else None) == db_before



def test_comparison_citations_name_instrument_and_provision(built_db, kb):
    db = sqlite_utils.Database(built_db)
    citations = {instrument.id: instrument.citation for instrument in kb.instruments}
    for rule in kb.rules:
        if rule.status != "in_force" or rule.provision is not None:
            continue
        row = db["comparison"].get(rule.dimension_id)
        cited = row[f"{rule.jurisdiction.lower()}_citations"] or ""
        assert citations[rule.instrument_id] in cited
        assert f"{citations[rule.instrument_id]}, nan" not in cited


def run_in_terminal(*args: str) -> str:
    """Run the regkb CLI with a pseudo-terminal on stderr, as a maintainer at a prompt would."""
    leader, follower = pty.openpty()
    process = subprocess.run([sys.executable, "-m", "ingest", *args], stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bars_show_on_a_terminal_and_stay_quiet_when_piped(tmp_path):
    shown = run_in_terminal("ingest", "--data", str(DATA_DIR), "--db", str(tmp_path / "kb.db"))
    assert "Building kb.db" in shown  # one bar: files are read and written a batch at a time
    assert "Reading data files" in run_in_terminal("check", "--data", str(DATA_DIR))
    piped = run_cli("ingest", "--data", DATA_DIR, "--db", tmp_path / "kb.db")
    assert "Reading data files" not in piped.output and "Building kb.db" not in piped.output


def test_the_comparison_gives_the_rules_in_force_on_the_build_day_and_lists_pending_ones(built_db, kb):
    """In force (or unconfirmed, with its mark) on the day: in the answer; adopted or proposed: in pending."""
    db = sqlite_utils.Database(built_db)
    for rule in kb.rules:
        row = db["comparison"].get(rule.dimension_id)
        country = rule.jurisdiction.lower()
        listed = (row[f"{country}_rules"] or "").split(", ")
        day = dt.date.fromisoformat(row["as_at"])
        applies = rule.effective_from is not None and rule.effective_from <= day and (
            rule.effective_to is None or day <= rule.effective_to) and rule.status not in ("proposed", "rejected")
        assert (rule.id in listed) == applies, rule.id
        if rule.status in ("adopted", "proposed") and not applies:
            assert rule.answer_line in (row[f"{country}_pending"] or ""), rule.id
        if rule.status == "unconfirmed" and applies:
            assert f"[unconfirmed after {rule.confirmed_until}] {rule.title_en}" in row[f"{country}_answer"]


def count_drawings(monkeypatch) -> list[str]:
    """Replace the (slow) drawing with a quick one that records each call: these tests are about when to draw."""
    drawn: list[str] = []

    def quick_timeline_figure(events, source_hash, today):
        drawn.append(source_hash)
        return Figure(name="timeline", media_type="image/svg+xml", content=f"<svg><!-- {source_hash} --></svg>",
                      description="test drawing", source_hash=source_hash)

    monkeypatch.setattr(figures, "timeline_figure", quick_timeline_figure)
    return drawn


def test_the_timeline_is_redrawn_only_when_its_events_change(tmp_path, data_copy, monkeypatch):
    """Counts the drawings: an edit that moves no event reuses the previous picture, a new date redraws it."""
    drawn = count_drawings(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    assert len(drawn) == 1
    first = sqlite_utils.Database(db_path)["figures"].get("timeline")
    edit_data_file(data_copy, VAT_FILE, lambda content: content["rules"][0].update(
        summary_en=content["rules"][0]["summary_en"] + " Edited."))
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    assert len(drawn) == 1
    assert sqlite_utils.Database(db_path)["figures"].get("timeline") == first
    edit_data_file(data_copy, VAT_FILE, lambda content: content.update(published_date="2021-02-11"))
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    assert len(drawn) == 2
    redrawn = sqlite_utils.Database(db_path)["figures"].get("timeline")
    assert redrawn["source_hash"] != first["source_hash"]


def test_a_fresh_kb_db_reuses_a_drawing_made_by_an_earlier_build(tmp_path, monkeypatch):
    drawn = count_drawings(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("one.db", "two.db"):
        assert run_cli("ingest", "--data", DATA_DIR, "--db", tmp_path / name).exit_code == 0
    assert len(drawn) == 1
    figures_of = [sqlite_utils.Database(tmp_path / name)["figures"].get("timeline") for name in ("one.db", "two.db")]
    assert figures_of[0] == figures_of[1]


@pytest.mark.parametrize("target, words", [
    ("a-data-file.yml", "not a SQLite database"),
    ("/dev/null", "not a regular file"),
    ("missing-folder/kb.db", "does not exist"),
])
def test_ingest_refuses_to_replace_what_is_not_a_database(tmp_path, target, words):
    path = Path(target) if target.startswith("/") else tmp_path / target
    if target.endswith(".yml"):
        path.write_text("id: th-precious\n", encoding="utf-8")
    before = path.read_bytes() if path.is_file() else None
    result = run_cli("ingest", "--data", DATA_DIR, "--db", path)
    assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output
    if before is not None:
        assert path.read_bytes() == before


def test_ingest_refuses_a_wait_that_is_not_a_number_of_seconds(tmp_path):
    result = run_cli("ingest", "--data", DATA_DIR, "--db", tmp_path / "kb.db", "--wait", "nan")
    assert result.exit_code == 2 and "--wait" in result.output
