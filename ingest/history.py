"""History: what an ingest changed, the history carried over from earlier builds, and when each rule changed.

A new kb.db replaces the old one, so the history of earlier ingests is read
from the old file and written again into the new one: nothing is lost. Each
rule's first_seen and last_changed dates come from the git history of data/
when the data lives in a git checkout (as the museums project derives its
dates), and from the ingest history otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .load import INSTRUMENT_DIRS, DataLoader
from .models import Change, IngestRun, KnowledgeBase

TRACKED = ("rules", "instruments")
# Not compared: the history columns themselves, and figures that follow from another table
# (threshold_eur moves with fx_rates), so one edited figure gives one line of report.
HISTORY_FIELDS = {"first_seen", "last_changed", "threshold_eur", "threshold_fx_date"}

Snapshot = dict[str, dict[str, dict[str, Any]]]


@dataclass
class Previous:
    """What the existing kb.db holds: its rules and instruments, and its history tables."""

    snapshot: Snapshot
    runs: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


def snapshot_of(kb: KnowledgeBase) -> Snapshot:
    """Rules (with their sources) and instruments as comparable flat records."""
    rules = {}
    for rule in kb.rules:
        record = rule.model_dump(mode="json", exclude=HISTORY_FIELDS | {"sources"})
        record["sources"] = json.dumps(
            [source.model_dump(mode="json") for source in rule.sources], ensure_ascii=False, sort_keys=True
        )
        rules[rule.id] = record
    instruments = {}
    for instrument in kb.instruments:
        record = instrument.model_dump(mode="json", exclude={"rules", "amends"})
        record["amends"] = ", ".join(sorted(instrument.amends)) or None
        instruments[instrument.id] = record
    return {"rules": rules, "instruments": instruments}


def read_previous(db_path: Path) -> Previous:
    """Read the existing kb.db, if any; a missing or unreadable file means there is no history yet."""
    empty = Previous(snapshot={name: {} for name in TRACKED})
    if not db_path.exists():
        return empty
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
        if not set(TRACKED) <= tables:
            return empty
        snapshot: Snapshot = {}
        for name in TRACKED:
            snapshot[name] = {
                row["id"]: {key: row[key] for key in row.keys() if key not in HISTORY_FIELDS}  # noqa: SIM118 (sqlite3.Row iterates values)
                for row in connection.execute(f"select * from [{name}]")
            }
        sources: dict[str, list[dict]] = {}
        for row in connection.execute("select * from sources order by rule_id, id"):
            sources.setdefault(row["rule_id"], []).append(dict(row))
        for rule_id, record in snapshot["rules"].items():
            record["sources"] = json.dumps(sources.get(rule_id, []), ensure_ascii=False, sort_keys=True)
        amended: dict[str, list[str]] = {}
        if "amendments" in tables:
            for row in connection.execute("select instrument_id, amends_id from amendments order by amends_id"):
                amended.setdefault(row["instrument_id"], []).append(row["amends_id"])
        for instrument_id, record in snapshot["instruments"].items():
            record["amends"] = ", ".join(amended.get(instrument_id, [])) or None
        runs = (
            [dict(row) for row in connection.execute("select * from ingest_runs order by id")]
            if "ingest_runs" in tables
            else []
        )
        changes = (
            [dict(row) for row in connection.execute("select * from changes order by id")]
            if "changes" in tables
            else []
        )
        connection.close()
        return Previous(snapshot, runs, changes)
    except sqlite3.DatabaseError:
        return empty


def _as_text(value: Any) -> str | None:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None if value is None else str(value)


def diff(old: Snapshot, new: Snapshot, run_id: int, at: str) -> list[Change]:
    """Records added, removed and changed field by field, rules first, in a stable order."""
    changes: list[Change] = []

    def add(
        table: str, record_id: str, action: str, name: str | None = None, before: Any = None, after: Any = None
    ) -> None:
        changes.append(
            Change(
                id=0,
                run_id=run_id,
                at=at,
                table_name=table,
                record_id=record_id,
                action=action,
                field=name,
                old=_as_text(before),
                new=_as_text(after),
            )
        )

    for table in TRACKED:
        before, after = old.get(table, {}), new[table]
        for record_id in sorted(after.keys() - before.keys()):
            add(table, record_id, "added")
        for record_id in sorted(before.keys() - after.keys()):
            add(table, record_id, "removed")
        for record_id in sorted(before.keys() & after.keys()):
            for name in after[record_id]:
                was, now = before[record_id].get(name), after[record_id][name]
                if _as_text(was) != _as_text(now) and not _same_number(was, now):
                    add(table, record_id, "changed", name, was, now)
    return changes


def _same_number(left: Any, right: Any) -> bool:
    """1800000 read back from SQLite as 1800000.0 is not a change."""
    try:
        return left is not None and right is not None and float(left) == float(right)
    except (TypeError, ValueError):
        return False


def format_report(changes: list[Change]) -> list[str]:
    """One line per change, as a maintainer reads it: removals first and loud."""
    symbols = {"removed": "-", "added": "+", "changed": "~"}
    lines = []
    for change in sorted(changes, key=lambda c: ({"removed": 0, "added": 1, "changed": 2}[c.action], c.id)):
        kind = change.table_name.removesuffix("s")
        line = f"{symbols[change.action]} {kind} {change.record_id}"
        if change.action == "changed":
            line += f": {change.field}: {_shorten(change.old)} -> {_shorten(change.new)}"
        elif change.action == "removed":
            line += " REMOVED"
        lines.append(line)
    return lines


def _shorten(value: str | None, limit: int = 120) -> str:
    if value is None:
        return "(empty)"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def data_hash(data_dir: Path) -> str:
    """sha256 over every data file's path and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(data_dir.rglob("*.y*ml")):
        digest.update(path.relative_to(data_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _git(data_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(data_dir), *args], capture_output=True, text=True, check=True)
        return result.stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def git_commit(data_dir: Path) -> str | None:
    head = _git(data_dir, "rev-parse", "HEAD")
    return head.strip() if head else None


def _rule_fingerprints(text: str) -> dict[str, str]:
    """Rule id -> hash of the rule as written, for one version of an instrument file."""
    try:
        content = yaml.load(text, Loader=DataLoader)
    except yaml.YAMLError:
        return {}
    rules = content.get("rules") if isinstance(content, dict) else None
    return {
        rule["id"]: hashlib.sha1(json.dumps(rule, sort_keys=True, default=str).encode()).hexdigest()
        for rule in rules or []
        if isinstance(rule, dict) and isinstance(rule.get("id"), str)
    }


def git_rule_dates(data_dir: Path, today: dt.date) -> dict[str, tuple[str, str]] | None:
    """first_seen and last_changed of every rule from the git history of data/; None outside git.

    Walks the commits that touched the instrument files, oldest first, and notes
    when each rule id first appeared and when its content last changed. Edits
    not yet committed count as changed today.
    """
    top = _git(data_dir, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    log = _git(data_dir, "log", "--reverse", "--format=@@%H %cs", "--name-only", "--", *INSTRUMENT_DIRS)
    if log is None:
        return None
    files: dict[str, dict[str, str]] = {}
    dates: dict[str, list[str]] = {}

    def record(path: str, fingerprints: dict[str, str], day: str) -> None:
        previous = files.get(path, {})
        everywhere = {
            rule_id: digest for other, rules in files.items() if other != path for rule_id, digest in rules.items()
        }
        for rule_id, digest in fingerprints.items():
            if rule_id not in dates:
                dates[rule_id] = [day, day]
            elif previous.get(rule_id, everywhere.get(rule_id)) != digest:
                dates[rule_id][1] = day
        files[path] = fingerprints

    prefix = Path(data_dir).resolve().relative_to(Path(top.strip()).resolve()).as_posix()
    commit, day = "", ""
    for line in log.splitlines():
        if line.startswith("@@"):
            commit, day = line[2:].split()
        elif line.strip():
            shown = _git(data_dir, "show", f"{commit}:{line}") if line else None
            path = line.removeprefix(f"{prefix}/") if prefix != "." else line
            record(path, _rule_fingerprints(shown) if shown is not None else {}, day)
    for folder in INSTRUMENT_DIRS:
        for file in sorted((data_dir / folder).glob("*.y*ml")):
            relative = file.relative_to(data_dir).as_posix()
            record(relative, _rule_fingerprints(file.read_text(encoding="utf-8")), today.isoformat())
    return {rule_id: (first, last) for rule_id, (first, last) in dates.items()}


def rule_dates_from_history(previous: Previous, changes: list[Change], ids: list[str]) -> dict[str, tuple[str, str]]:
    """first_seen / last_changed of each rule from the ingest history (when data/ is not in git)."""
    dates: dict[str, list[str]] = {}
    for change in [*previous.changes, *(change.model_dump(mode="json") for change in changes)]:
        if change["table_name"] != "rules":
            continue
        day = change["at"][:10]
        entry = dates.setdefault(change["record_id"], [day, day])
        if change["action"] == "added":
            entry[0] = min(entry[0], day)
        entry[1] = max(entry[1], day)
    return {rule_id: (dates[rule_id][0], dates[rule_id][1]) for rule_id in ids if rule_id in dates}


def new_run(
    previous: Previous, at: str, hash_of_data: str, commit: str | None, changes: list[Change], kb: KnowledgeBase
) -> IngestRun:
    count = {
        action: sum(1 for c in changes if c.table_name == "rules" and c.action == action)
        for action in ("added", "changed", "removed")
    }
    changed_rules = len({c.record_id for c in changes if c.table_name == "rules" and c.action == "changed"})
    return IngestRun(
        id=max((run["id"] for run in previous.runs), default=0) + 1,
        at=at,
        data_hash=hash_of_data,
        git_commit=commit,
        rule_count=len(kb.rules),
        instrument_count=len(kb.instruments),
        rules_added=count["added"],
        rules_changed=changed_rules,
        rules_removed=count["removed"],
        field_changes=len(changes),
    )
