"""Re-running the ingest: the change report, kept history, last-changed dates, the feed, one ingest at a time."""

from __future__ import annotations

import copy
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from ingest.publish import make_datasette

from .conftest import VAT_FILE, edit_data_file, rule_in, run_cli

THRESHOLD_RULE = "th-eservice-vat-threshold"


def report_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


@pytest.fixture
def ingested(tmp_path, data_copy):
    db_path = tmp_path / "kb.db"
    result = run_cli("ingest", "--data", data_copy, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "first ingest into this database" in result.output
    return data_copy, db_path


def test_three_successive_ingests_report_exactly_what_changed(ingested):
    data, db_path = ingested
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    first = run_cli("ingest", "--data", data, "--db", db_path)
    assert report_lines(first.output) == [f"~ rule {THRESHOLD_RULE}: threshold_amount: 1800000 -> 2000000"]

    def add_rule(content):
        new = dict(copy.deepcopy(rule_in(content, THRESHOLD_RULE)), id="th-added-for-test")
        content["rules"].append(new)
    edit_data_file(data, VAT_FILE, add_rule)
    second = run_cli("ingest", "--data", data, "--db", db_path)
    assert report_lines(second.output) == ["+ rule th-added-for-test"]

    edit_data_file(data, VAT_FILE, lambda c: c.update(rules=[r for r in c["rules"] if r["id"] != "th-eservice-monthly-filing"]))
    third = run_cli("ingest", "--data", data, "--db", db_path)
    assert report_lines(third.output) == ["- rule th-eservice-monthly-filing REMOVED"]
    assert "WARNING: 1 rule(s) removed: th-eservice-monthly-filing" in third.output

    db = sqlite_utils.Database(db_path)
    runs = list(db["ingest_runs"].rows_where(order_by="id"))
    assert [(r["id"], r["rules_added"], r["rules_changed"], r["rules_removed"]) for r in runs][1:] == [
        (2, 0, 1, 0), (3, 1, 0, 0), (4, 0, 0, 1)]
    later = [(c["run_id"], c["record_id"], c["action"], c["field"], c["old"], c["new"])
             for c in db["changes"].rows_where("run_id > 1", order_by="id")]
    assert later == [
        (2, THRESHOLD_RULE, "changed", "threshold_amount", "1800000", "2000000"),
        (3, "th-added-for-test", "added", None, None, None),
        (4, "th-eservice-monthly-filing", "removed", None, None, None),
    ]
    assert db["changes"].count_where("run_id = 1") == db["rules"].count + db["instruments"].count


def test_an_unchanged_ingest_reports_nothing(ingested):
    data, db_path = ingested
    result = run_cli("ingest", "--data", data, "--db", db_path)
    assert "no changes since the last ingest" in result.output


def test_dry_run_reports_and_writes_nothing(ingested):
    data, db_path = ingested
    before = db_path.read_bytes()
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    result = run_cli("ingest", "--data", data, "--db", db_path, "--dry-run")
    assert result.exit_code == 0
    assert "would change since the last ingest" in result.output
    assert report_lines(result.output) == [f"~ rule {THRESHOLD_RULE}: threshold_amount: 1800000 -> 2000000"]
    assert db_path.read_bytes() == before


def test_a_failed_ingest_keeps_database_and_history(ingested):
    data, db_path = ingested
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 0
    before = db_path.read_bytes()
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount="lots"))
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 1
    assert db_path.read_bytes() == before
    assert sqlite_utils.Database(db_path)["ingest_runs"].count == 2


def test_rule_dates_follow_the_ingest_history_outside_git(ingested):
    data, db_path = ingested
    db = sqlite_utils.Database(db_path)
    run_day = db["ingest_runs"].get(1)["at"][:10]
    assert {row["first_seen"] for row in db["rules"].rows} == {run_day}
    db.execute("update changes set at = '2025-01-01T00:00:00+00:00'")
    db.conn.commit()
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 0
    rule = sqlite_utils.Database(db_path)["rules"].get(THRESHOLD_RULE)
    other = sqlite_utils.Database(db_path)["rules"].get("th-eservice-vat-scope")
    assert (rule["first_seen"], rule["last_changed"]) == ("2025-01-01", run_day)
    assert (other["first_seen"], other["last_changed"]) == ("2025-01-01", "2025-01-01")


def git(repo: Path, *args: str, date: str | None = None) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def test_rule_dates_come_from_git_history(tmp_path, data_copy):
    repo = data_copy.parent
    git(repo, "init", "-q")
    git(repo, "add", "data")
    git(repo, "commit", "-qm", "first", date="2024-03-01T12:00:00+00:00")
    edit_data_file(data_copy, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    git(repo, "commit", "-qam", "raise the threshold", date="2025-06-15T12:00:00+00:00")
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    db = sqlite_utils.Database(db_path)
    assert (db["rules"].get(THRESHOLD_RULE)["first_seen"], db["rules"].get(THRESHOLD_RULE)["last_changed"]) == (
        "2024-03-01", "2025-06-15")
    assert db["rules"].get("th-eservice-vat-scope")["last_changed"] == "2024-03-01"
    assert db["ingest_runs"].get(1)["git_commit"]


async def test_the_change_appears_in_the_feed_and_on_the_home_page(ingested):
    data, db_path = ingested
    edit_data_file(data, VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000))
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 0
    datasette = make_datasette(db_path)
    feed = (await datasette.client.get("/kb/recent_changes.atom")).text
    assert f"changed rule {THRESHOLD_RULE}: threshold_amount" in feed
    assert "threshold_amount: 1800000 -&gt; 2000000" in feed
    home = (await datasette.client.get("/")).text
    assert f"{THRESHOLD_RULE}</a>, threshold_amount: 1800000 → 2000000" in home


def test_a_second_ingest_waits_for_the_first(ingested):
    data, db_path = ingested
    command = [sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)]
    first, second = subprocess.Popen(command), subprocess.Popen(command)
    assert (first.wait(timeout=120), second.wait(timeout=120)) == (0, 0)
    db = sqlite_utils.Database(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [run["id"] for run in db["ingest_runs"].rows] == [1, 2, 3]


def test_an_ingest_that_cannot_get_the_lock_fails_clearly(ingested):
    data, db_path = ingested
    before = db_path.read_bytes()
    with open(db_path.with_name(f".{db_path.name}.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_cli("ingest", "--data", data, "--db", db_path, "--wait", "0.5")
    assert result.exit_code == 1
    assert f"another ingest is writing {db_path}" in result.output
    assert db_path.read_bytes() == before
