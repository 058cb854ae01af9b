"""Re-running the ingest: the change report, kept history, last-changed dates, the feed, one ingest at a time."""

from __future__ import annotations

import copy
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import feedparser
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
    before = db_path.read_bytes()
    refused = run_cli("ingest", "--data", data, "--db", db_path)
    assert refused.exit_code == 1
    assert "1 rule(s) would be removed: th-eservice-monthly-filing" in refused.output
    assert "--allow-removals" in refused.output and db_path.read_bytes() == before
    third = run_cli("ingest", "--data", data, "--db", db_path, "--allow-removals")
    assert report_lines(third.output) == ["- rule th-eservice-monthly-filing REMOVED"]
    assert "WARNING: 1 rule(s) removed: th-eservice-monthly-filing" in third.output

    db = sqlite_utils.Database(db_path)
    runs = list(db["ingest_runs"].rows_where(order_by="id"))
    assert [(r["id"], r["rules_added"], r["rules_changed"], r["rules_removed"]) for r in runs][1:] == [
        (2, 0, 1, 0), (3, 1, 0, 0), (4, 0, 0, 1)]


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


async def test_outside_git_the_site_says_history_is_unavailable(ingested):
    data, db_path = ingested
    db = sqlite_utils.Database(db_path)
    assert db["changes"].count == 0 and db["history_commits"].count == 0
    assert {row["first_seen"] for row in db["rules"].rows} == {None}
    assert db["ingest_runs"].get(1)["history"].startswith("unavailable")
    home = (await make_datasette(db_path).client.get("/")).text
    assert "History is unavailable" in home


def git(repo: Path, *args: str, date: str | None = None) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


COMMITS = [  # (message, date, change to the data made before the commit)
    ("add the data", "2024-03-01T12:00:00+00:00", None),
    ("raise the threshold", "2025-06-15T12:00:00+00:00",
     lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2000000)),
    ("add a rule", "2025-07-01T09:30:00+00:00",
     lambda c: c["rules"].append(dict(copy.deepcopy(rule_in(c, THRESHOLD_RULE)), id="th-added-for-test"))),
    ("remove a rule", "2025-08-01T10:00:00+00:00",
     lambda c: c.update(rules=[r for r in c["rules"] if r["id"] != "th-eservice-monthly-filing"])),
    ("retitle the instrument", "2025-09-01T11:00:00+00:00", lambda c: c.update(title_en="A new title")),
]


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A throwaway git repository of data/ with five commits: add, change a threshold, add, remove, retitle."""
    import shutil

    from .conftest import DATA_DIR

    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(DATA_DIR, repo / "data")
    git(repo, "init", "-q")
    for message, date, change in COMMITS:
        if change:
            edit_data_file(repo / "data", VAT_FILE, change)
        git(repo, "add", "data")
        git(repo, "commit", "-qm", message, date=date)
    return repo


def history_rows(db_path: Path) -> list[tuple]:
    db = sqlite_utils.Database(db_path)
    return [(row["id"], row["git_commit"], row["at"], row["message"], row["table_name"], row["record_id"], row["action"],
             row["field"], row["old"], row["new"]) for row in db.query("select * from changes order by rowid")]


def test_the_history_is_the_git_history_of_the_data(tmp_path, repository):
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", repository / "data", "--db", db_path).exit_code == 0
    db = sqlite_utils.Database(db_path)
    commits = list(db.query("select message, at from history_commits order by position"))
    assert [(c["message"], c["at"]) for c in commits] == [(message, date) for message, date, _ in COMMITS]
    later = [(row["message"], row["at"][:10], row["table_name"], row["record_id"], row["action"], row["field"],
              row["old"], row["new"]) for row in db.query("select * from changes where message != 'add the data' "
                                                          "order by rowid")]
    instrument = "th-revenue-code-amendment-53"
    old_title = [row["old"] for row in db.query("select old from changes where field = 'title_en'")][0]
    assert later == [
        ("raise the threshold", "2025-06-15", "rules", THRESHOLD_RULE, "changed", "threshold_amount", "1800000",
         "2000000"),
        ("add a rule", "2025-07-01", "rules", "th-added-for-test", "added", None, None, None),
        ("remove a rule", "2025-08-01", "rules", "th-eservice-monthly-filing", "removed", None, None, None),
        ("retitle the instrument", "2025-09-01", "instruments", instrument, "changed", "title_en", old_title,
         "A new title"),
    ]
    added_first = db.execute("select count(*) from changes where message = 'add the data' and action = 'added'")
    # Every record of the first commit: today's, less the rule added later, plus the rule removed later.
    assert added_first.fetchone()[0] == db["instruments"].count + db["rules"].count - 1 + 1
    rule = db["rules"].get(THRESHOLD_RULE)
    assert (rule["first_seen"], rule["last_changed"]) == ("2024-03-01", "2025-06-15")
    assert db["rules"].get("th-added-for-test")["first_seen"] == "2025-07-01"
    assert db["rules"].get("th-eservice-vat-scope")["last_changed"] == "2024-03-01"
    assert db["ingest_runs"].get(1)["git_commit"]
    described = db["changes"].get(later and list(db.query(
        "select id from changes where field = 'threshold_amount'"))[0]["id"])["description"]
    assert described.endswith("threshold amount: 1,800,000 THB → 2,000,000 THB")


def test_fresh_clones_and_a_deleted_kb_db_give_the_same_history(tmp_path, repository):
    builds = []
    for name in ("one", "two"):
        clone = tmp_path / name
        subprocess.run(["git", "clone", "-q", str(repository), str(clone)], check=True)
        db_path = clone / "kb.db"
        assert run_cli("ingest", "--data", clone / "data", "--db", db_path).exit_code == 0
        builds.append(history_rows(db_path))
    assert builds[0] == builds[1] and builds[0]
    db_path = tmp_path / "one" / "kb.db"
    db_path.unlink()
    assert run_cli("ingest", "--data", tmp_path / "one" / "data", "--db", db_path).exit_code == 0
    assert history_rows(db_path) == builds[0]


def test_a_rebuild_reads_only_the_commits_it_has_not_seen(tmp_path, repository):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repository), str(clone)], check=True)
    db_path = tmp_path / "kb.db"
    first = run_cli("ingest", "--data", clone / "data", "--db", db_path)
    assert f"({len(COMMITS)} read from git" in first.output
    edit_data_file(clone / "data", VAT_FILE, lambda c: rule_in(c, THRESHOLD_RULE).update(threshold_amount=2500000))
    git(clone, "commit", "-qam", "raise it again", date="2025-10-01T08:00:00+00:00")
    second = run_cli("ingest", "--data", clone / "data", "--db", db_path)
    assert "(1 read from git" in second.output
    rows = history_rows(db_path)
    assert rows[-1][3:] == ("raise it again", "rules", THRESHOLD_RULE, "changed", "threshold_amount", "2000000",
                            "2500000")
    fresh = tmp_path / "fresh.db"
    assert run_cli("ingest", "--data", clone / "data", "--db", fresh).exit_code == 0
    assert history_rows(fresh) == rows


async def test_the_feed_is_valid_atom_with_stable_ids_and_readable_titles(tmp_path, repository):
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", repository / "data", "--db", db_path).exit_code == 0
    datasette = make_datasette(db_path)
    response = await datasette.client.get("/kb/recent_changes.atom")
    assert response.status_code == 200
    feed = feedparser.parse(response.text)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.get("updated") and all(entry.get("author") for entry in feed.entries)
    entries = {entry.id: entry for entry in feed.entries}
    threshold = next(entry for entry in feed.entries if "threshold amount" in entry.title)
    assert threshold.title.endswith("threshold amount: 1,800,000 THB → 2,000,000 THB")
    assert threshold.link.startswith("http://localhost/kb/rules/")
    assert threshold.id.startswith("tag:regkb,2026:change:")
    again = feedparser.parse((await make_datasette(db_path).client.get("/kb/recent_changes.atom")).text)
    assert {entry.id for entry in again.entries} == set(entries)
    home = (await datasette.client.get("/")).text
    assert "threshold amount: 1,800,000 THB → 2,000,000 THB" in home


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
