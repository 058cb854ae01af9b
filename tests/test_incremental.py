"""Incremental builds: a rebuild reads only the files that changed, and gives the rows a full build gives.

The work is counted, not timed: each instrument file read is recorded where the build reads it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from ingest import build as build_module

from .conftest import VAT_FILE, edit_data_file, run_cli

# Tables whose rows record the build itself rather than the data: each build appends its run.
BUILD_LOG = {"ingest_runs"}


@pytest.fixture
def files_read(monkeypatch) -> list[str]:
    """The instrument files each build parses (the real set is read in this process: below the pool's size)."""
    read: list[str] = []
    real = build_module.read_instrument_file

    def counting(path_and_name):
        read.append(path_and_name[1])
        return real(path_and_name)

    monkeypatch.setattr(build_module, "read_instrument_file", counting)
    return read


def ingest(data: Path, db_path: Path, *extra: str) -> None:
    result = run_cli("ingest", "--data", data, "--db", db_path, *extra)
    assert result.exit_code == 0, result.output


def last_run(db_path: Path) -> dict:
    return next(sqlite_utils.Database(db_path).query("select * from ingest_runs order by id desc limit 1"))


def test_an_unchanged_rebuild_reads_no_file(tmp_path, data_copy, files_read):
    ingest(data_copy, tmp_path / "kb.db")
    assert len(files_read) == len(list(data_copy.glob("*/*.yml")))
    files_read.clear()
    ingest(data_copy, tmp_path / "kb.db")
    assert files_read == []
    assert last_run(tmp_path / "kb.db")["files_read"] == 0


def test_a_changed_file_is_read_again_and_the_others_are_not(tmp_path, data_copy, files_read):
    ingest(data_copy, tmp_path / "kb.db")
    files_read.clear()
    edit_data_file(data_copy, VAT_FILE, lambda content: content["rules"][0].update(summary_en="Edited summary."))
    ingest(data_copy, tmp_path / "kb.db")
    assert files_read == [VAT_FILE]
    rule_id = sqlite_utils.Database(tmp_path / "kb.db").execute(
        "select id from rules where summary_en = 'Edited summary.'").fetchall()
    assert len(rule_id) == 1


def test_a_changed_reference_table_reads_every_file_again(tmp_path, data_copy, files_read):
    """Rules carry values from the reference tables (labels, EUR amounts, search context): nothing is carried."""
    ingest(data_copy, tmp_path / "kb.db")
    files_read.clear()
    edit_data_file(data_copy, "authorities.yml", lambda content: content[0].update(name_en="Renamed authority"))
    ingest(data_copy, tmp_path / "kb.db")
    assert len(files_read) == len(list(data_copy.glob("*/*.yml")))


def table_rows(db_path: Path) -> dict[str, list]:
    """Every table's rows in a stable order; search rows without key_rowid, which only mirrors the rule's rowid."""
    connection = sqlite3.connect(db_path)
    connection.row_factory = sqlite3.Row
    tables = [row[0] for row in connection.execute(
        "select name from sqlite_master where type = 'table' and name not like '%search_fts%' "
        "and name not like 'sqlite_%'")]
    found = {}
    for table in tables:
        if table in BUILD_LOG:
            continue
        rows = [dict(row) for row in connection.execute(f"select * from [{table}]")]
        for row in rows:
            row.pop("key_rowid", None)
        found[table] = sorted(repr(sorted(row.items())) for row in rows)
    # The index itself must agree with its rows: each indexed row sits at its rule's (or instrument's) rowid.
    for table in ("rules", "instruments"):
        misaligned = connection.execute(
            f"select count(*) from [{table}_search] s join [{table}] t on t.id = s.id where s.key_rowid != t.rowid"
        ).fetchone()[0]
        assert misaligned == 0, table
    connection.close()
    return found


def search(db_path: Path, query: str) -> list[str]:
    connection = sqlite3.connect(db_path)
    try:
        return sorted(row[0] for row in connection.execute(
            "select rules.id from rules where rowid in (select rowid from rules_search_fts where rules_search_fts "
            "match ?)", [query]))
    finally:
        connection.close()


def test_an_incremental_rebuild_gives_the_rows_of_a_full_build(tmp_path, data_copy):
    """Edit one file, add one, remove one: the incremental rebuild and a build from scratch hold the same rows."""
    incremental = tmp_path / "incremental" / "kb.db"
    incremental.parent.mkdir()
    ingest(data_copy, incremental)
    edit_data_file(data_copy, VAT_FILE, lambda content: content["rules"][0].update(
        summary_en="Edited summary naming the Revenue Department.", text_native="ภาษีมูลค่าเพิ่มแก้ไข",
        text_native_from="official_text"))
    added = data_copy / "pt" / "pt-lei-99-2099.yml"
    shutil.copy(data_copy / "pt" / "pt-lei-47-2020.yml", added)
    edit_data_file(data_copy, "pt/pt-lei-99-2099.yml", lambda content: (
        content.update(id="pt-lei-99-2099", amends=[]),
        [rule.update(id=f"{rule['id']}-copy", superseded_by=None) for rule in content["rules"]]))
    removed = sorted(path for path in (data_copy / "th").glob("*.yml") if path.name.startswith("th-court"))[0]
    removed.unlink()
    ingest(data_copy, incremental, "--allow-removals")
    assert last_run(incremental)["files_read"] == 2

    full = tmp_path / "full" / "kb.db"
    full.parent.mkdir()
    ingest(data_copy, full)
    assert last_run(full)["files_read"] == len(list(data_copy.glob("*/*.yml")))
    assert table_rows(incremental) == table_rows(full)
    for query in ("ภาษี", "แก้ไข", "Revenue", "serviços", "copy"):
        assert search(incremental, query) == search(full, query), query
    assert search(incremental, "แก้ไข")  # the edited text is found; the removed file's rules are not
    assert not sqlite_utils.Database(incremental).execute(
        "select count(*) from rules where instrument_id = ?", [removed.stem]).fetchone()[0]


def test_files_read_ahead_by_the_workers_in_small_batches_give_the_same_rows(tmp_path, data_copy, monkeypatch):
    """Large data sets are parsed in worker processes one batch ahead; the real set is too small for that, so the
    thresholds are lowered here to run the same path over it."""
    one_batch = tmp_path / "one" / "kb.db"
    one_batch.parent.mkdir()
    ingest(data_copy, one_batch)
    monkeypatch.setattr(build_module, "MIN_FILES_FOR_POOL", 10)
    monkeypatch.setattr(build_module, "FILES_PER_BATCH", 7)
    batched = tmp_path / "batched" / "kb.db"
    batched.parent.mkdir()
    ingest(data_copy, batched)
    assert last_run(batched)["files_read"] == len(list(data_copy.glob("*/*.yml")))
    assert table_rows(batched) == table_rows(one_batch)
