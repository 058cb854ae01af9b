"""Report: what this build changes against the kb.db it replaces, for the maintainer at the terminal.

The published history comes from git (history.py); this report is the
maintainer's view of one ingest: records added and removed, and every changed
field, old -> new, including edits not yet committed. The build log
(ingest_runs) is carried from the old kb.db into the new one.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import IngestRun, Instrument

TRACKED = ("rules", "instruments")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Not compared: the history columns themselves, and figures that follow from another table
# (threshold_eur moves with fx_rates), so one edited figure gives one line of report.
HISTORY_FIELDS = {
    "first_seen",
    "last_changed",
    "threshold_eur",
    "threshold_fx_date",
    "status_warning",
    "citation",
    "answer_line",
}

Snapshot = dict[str, dict[str, dict[str, Any]]]


@dataclass
class Previous:
    """What the existing kb.db holds: its rules and instruments, and its build log."""

    snapshot: Snapshot
    runs: list[dict[str, Any]] = field(default_factory=list)


def snapshot_of(instruments: list[Instrument]) -> Snapshot:
    """Rules (with their sources) and instruments as comparable flat records."""
    rules = {}
    for rule in (rule for instrument in instruments for rule in instrument.rules):
        record = rule.model_dump(mode="json", exclude=HISTORY_FIELDS | {"sources"})
        record["sources"] = json.dumps(
            [source.model_dump(mode="json") for source in rule.sources], ensure_ascii=False, sort_keys=True
        )
        rules[rule.id] = record
    records = {}
    for instrument in instruments:
        record = instrument.model_dump(mode="json", exclude={"rules", "amends"})
        record["amends"] = ", ".join(sorted(instrument.amends)) or None
        records[instrument.id] = record
    return {"rules": rules, "instruments": records}


def read_previous(db_path: Path, instrument_ids: set[str] | None = None) -> Previous:
    """Read the existing kb.db, if any; a missing or unreadable file means there is no history yet.

    instrument_ids, when given, limits the snapshot to those instruments and their rules (the files an
    incremental build reads again); the build log is always read whole.
    """
    empty = Previous(snapshot={name: {} for name in TRACKED})
    if not db_path.exists():
        return empty
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
        if not set(TRACKED) <= tables:
            return empty
        connection.execute("create temp table wanted (id text primary key)")
        if instrument_ids is None:
            connection.execute("insert into wanted select id from instruments")
        else:
            connection.executemany("insert into wanted values (?)", ((key,) for key in instrument_ids))
        where = {"rules": "instrument_id in (select id from wanted)", "instruments": "id in (select id from wanted)"}
        snapshot: Snapshot = {}
        for name in TRACKED:
            snapshot[name] = {
                row["id"]: {key: row[key] for key in row.keys() if name != "rules" or key not in HISTORY_FIELDS}  # noqa: SIM118 (sqlite3.Row iterates values)
                for row in connection.execute(f"select * from [{name}] where {where[name]}")
            }
        sources: dict[str, list[dict]] = {}
        for row in connection.execute(
            f"select * from sources where rule_id in (select id from rules where {where['rules']}) order by rule_id, id"
        ):
            sources.setdefault(row["rule_id"], []).append(dict(row))
        for rule_id, record in snapshot["rules"].items():
            record["sources"] = json.dumps(sources.get(rule_id, []), ensure_ascii=False, sort_keys=True)
        amended: dict[str, list[str]] = {}
        if "amendments" in tables:
            for row in connection.execute(
                "select instrument_id, amends_id from amendments where instrument_id in (select id from wanted) "
                "order by amends_id"
            ):
                amended.setdefault(row["instrument_id"], []).append(row["amends_id"])
        for instrument_id, record in snapshot["instruments"].items():
            record["amends"] = ", ".join(amended.get(instrument_id, [])) or None
        runs = (
            [dict(row) for row in connection.execute("select * from ingest_runs order by id")]
            if "ingest_runs" in tables
            else []
        )
        connection.close()
        return Previous(snapshot, runs)
    except sqlite3.DatabaseError:
        return empty


def _as_text(value: Any) -> str | None:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None if value is None else str(value)


def _same_number(left: Any, right: Any) -> bool:
    """1800000 read back from SQLite as 1800000.0 is not a change."""
    try:
        return left is not None and right is not None and float(left) == float(right)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class ReportLine:
    """A record added or removed, or one field's old and new value."""

    table_name: str
    record_id: str
    action: str  # added, removed or changed
    field: str | None = None
    old: str | None = None
    new: str | None = None


def diff(old: Snapshot, new: Snapshot) -> list[ReportLine]:
    """Records added, removed and changed field by field, rules first, in a stable order.

    The one comparison of record versions: the ingest report and the git history both use it.
    """
    lines: list[ReportLine] = []
    for table in TRACKED:
        before, after = old.get(table, {}), new.get(table, {})
        lines += [ReportLine(table, record_id, "added") for record_id in sorted(after.keys() - before.keys())]
        lines += [ReportLine(table, record_id, "removed") for record_id in sorted(before.keys() - after.keys())]
        for record_id in sorted(before.keys() & after.keys()):
            for name in dict.fromkeys([*after[record_id], *before[record_id]]):
                was, now = before[record_id].get(name), after[record_id].get(name)
                if _as_text(was) != _as_text(now) and not _same_number(was, now):
                    lines.append(ReportLine(table, record_id, "changed", name, _as_text(was), _as_text(now)))
    return lines


ACTION_ORDER = {"added": 0, "removed": 1, "changed": 2}


def in_report_order(lines: list[ReportLine]) -> list[ReportLine]:
    """Lines diffed piece by piece, in the order one diff() of the whole would give them (a stable sort keeps
    each record's fields in contract order)."""
    return sorted(lines, key=lambda line: (TRACKED.index(line.table_name), ACTION_ORDER[line.action], line.record_id))


def format_report(lines: list[ReportLine]) -> list[str]:
    """One line per change, as a maintainer reads it: removals first and loud."""
    symbols = {"removed": "-", "added": "+", "changed": "~"}
    order = {"removed": 0, "added": 1, "changed": 2}
    text = []
    for line in sorted(lines, key=lambda line: order[line.action]):
        kind = line.table_name.removesuffix("s")
        shown = f"{symbols[line.action]} {kind} {line.record_id}"
        if line.action == "changed":
            shown += f": {line.field}: {_shorten(line.old)} -> {_shorten(line.new)}"
        elif line.action == "removed":
            shown += " REMOVED"
        text.append(shown)
    return text


def _shorten(value: str | None, limit: int = 120) -> str:
    """A value as the terminal shows it: cut to a line, control characters printed inert (\\x1b, not ESC)."""
    if value is None:
        return "(empty)"
    inert = CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)
    return inert if len(inert) <= limit else inert[: limit - 1] + "…"


def data_hash(data_dir: Path) -> str:
    """sha256 over every data file's path and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(data_dir.rglob("*.y*ml")):
        digest.update(path.relative_to(data_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def new_run(
    previous: Previous,
    at: str,
    hash_of_data: str,
    commit: str | None,
    history: str,
    lines: list[ReportLine],
    counts: dict[str, int],
) -> IngestRun:
    """This build's entry in the build log; counts holds its rules, instruments and files read."""
    rule_lines = [line for line in lines if line.table_name == "rules"]
    return IngestRun(
        id=max((run["id"] for run in previous.runs), default=0) + 1,
        at=at,
        data_hash=hash_of_data,
        git_commit=commit,
        history=history,
        rule_count=counts["rules"],
        instrument_count=counts["instruments"],
        rules_added=sum(1 for line in rule_lines if line.action == "added"),
        rules_changed=len({line.record_id for line in rule_lines if line.action == "changed"}),
        rules_removed=sum(1 for line in rule_lines if line.action == "removed"),
        field_changes=len(lines),
        files_read=counts["files_read"],
    )
