"""Build: read, check and write the data files into kb.db with sqlite-utils, atomically and incrementally.

Tables and their column order come from the models (ingest/models.py). The
database is written to a temporary file beside the target and renamed over it
only once complete, so readers and a failed build never see a half-written
kb.db. Instrument files are read a batch at a time; those unchanged since the
kb.db being replaced are carried over from it unread (incremental.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import sqlite3
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import sqlite_utils

from plugins.thai_search import warm_up

from . import history, report
from .atomic import atomic_target, crash_point, ingest_lock, remove_stale_temporaries, scratch_target
from .comparison import comparison_rows
from .derive import amendments, derive_instruments, derive_reference
from .figures import drawn_timeline, events_hash
from .incremental import (
    carried_skeletons,
    delete_rows_of,
    inputs_hash,
    plan_build,
    previous_files,
    skeleton,
)
from .load import LoadedFile, current_hash, instrument_files, load_reference, read_instrument_file, shown_path
from .models import (
    NESTED_FIELDS,
    TABLE_MODELS,
    VOCABULARIES,
    BuildFile,
    Figure,
    IngestRun,
    Instrument,
    KnowledgeBase,
    Record,
    data_dictionary,
    vocabulary_terms,
)
from .parallel import MIN_FILES_FOR_POOL, Workers
from .problems import DataError, Problem
from .report import ReportLine
from .search_index import (
    create_search_tables,
    index_records,
    index_search_tables,
    optimise_search_indexes,
    searchable_texts,
)
from .timeline import timeline_events
from .validate import (
    check_across_files,
    references_to_reference_tables,
    validate_instrument_file,
    validate_reference,
)


def _python_type(annotation: Any) -> type:
    """The plain Python type behind Optional / Annotated / enum annotations, for the SQLite column type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, (Enum, str, dt.date)):
        return str
    return annotation if annotation in (int, float) else str


def column_types(model: type[Record]) -> dict[str, type]:
    return {
        name: _python_type(field.annotation) for name, field in model.model_fields.items() if name not in NESTED_FIELDS
    }


def create_table(db: sqlite_utils.Database, name: str, indexes: bool = True) -> None:
    """An empty table of the contract: its columns, keys and (unless indexes is False) indexes, from its model."""
    model = TABLE_MODELS[name]
    db.table(name).create(column_types(model), pk=model.primary_key, foreign_keys=list(model.foreign_keys))
    if indexes:
        create_indexes(db, name)


def create_indexes(db: sqlite_utils.Database, name: str) -> None:
    for column in TABLE_MODELS[name].indexed:
        db.table(name).create_index([column], if_not_exists=True)


def _sqlite_value(value: Any) -> Any:
    """A model_dump value as SQLite stores it (lists and mappings as JSON, as sqlite-utils writes them)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def insert_records(db: sqlite_utils.Database, name: str, records: typing.Iterable[Record | dict]) -> int:
    """Insert records (models, or rows already dumped) into a contract table with one prepared statement."""
    columns = TABLE_MODELS[name].column_names()
    statement = (
        f"insert into [{name}] ({', '.join(f'[{column}]' for column in columns)}) "
        f"values ({', '.join('?' * len(columns))})"
    )
    values = [
        [_sqlite_value(row.get(column)) for column in columns]
        for row in (
            record if isinstance(record, dict) else record.model_dump(mode="json", exclude=NESTED_FIELDS)
            for record in records
        )
    ]
    db.conn.executemany(statement, values)
    return len(values)


def _previous_figure(previous: sqlite3.Connection | None, name: str, source_hash: str) -> Figure | None:
    """The previous kb.db's drawing of this figure, if it was drawn from the same events."""
    if previous is None:
        return None
    try:
        previous.row_factory = sqlite3.Row
        row = previous.execute(
            "select * from figures where name = ? and source_hash = ?", [name, source_hash]
        ).fetchone()
        return Figure(**dict(row)) if row else None
    except sqlite3.DatabaseError:
        return None
    finally:
        previous.row_factory = None


def _open_previous(db_path: Path | None) -> sqlite3.Connection | None:
    if db_path is None or not db_path.exists():
        return None
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


# Tables holding one instrument file's rows: kept from the previous kb.db for unchanged files. Every other table
# follows from the whole set (or from git) and is written again by every build.
FILE_TABLES = ("instruments", "amendments", "rules", "sources", "build_files")
# How many instrument files are read, checked and written at a time: enough to keep the worker processes busy,
# few enough that memory holds only their rules (100 files of 100 rules take about 100 MB as parsed YAML).
FILES_PER_BATCH = 100


def whole_set_tables(
    reference: KnowledgeBase, kb: KnowledgeBase, runs: list[dict], walked: history.History, previous, as_at: dt.date
) -> dict[str, Callable[[], typing.Sequence[Record | dict]]]:
    """Every table written whole by each build, as a function making its rows (made just before it is written)."""
    events = timeline_events(kb)
    timeline_hash = events_hash(events, as_at)
    return {
        **{name: functools.partial(vocabulary_terms, vocabulary) for name, vocabulary in VOCABULARIES.items()},
        "jurisdictions": lambda: reference.jurisdictions,
        "authorities": lambda: reference.authorities,
        "dimensions": lambda: reference.dimensions,
        "fx_rates": lambda: reference.fx_rates,
        "coverage": lambda: reference.coverage,
        "glossary": lambda: reference.glossary,
        "glossary_sources": lambda: [source for term in reference.glossary for source in term.sources],
        "comparison": lambda: comparison_rows(kb, as_at),
        "events": lambda: events,
        "figures": lambda: [
            _previous_figure(previous, "timeline", timeline_hash) or drawn_timeline(events, timeline_hash, as_at)
        ],
        "ingest_runs": lambda: runs,
        "columns": data_dictionary,
        "history_commits": lambda: walked.commits,
        "changes": lambda: walked.changes,
    }


def write_whole_set_tables(
    db: sqlite_utils.Database, tables: dict[str, Callable[[], typing.Sequence[Record | dict]]]
) -> dict[str, int]:
    counts = {}
    for name, make_rows in tables.items():
        db.table(name).drop(ignore=True)
        create_table(db, name)
        counts[name] = insert_records(db, name, make_rows())
    return counts


def create_tables(db: sqlite_utils.Database) -> None:
    """Every table of the contract, empty, in the order their foreign keys need; then the search tables.

    The file tables get their indexes once filled (finish_new_tables): one sorted pass per index instead of an
    update per row.
    """
    for name in TABLE_MODELS:
        create_table(db, name, indexes=name not in FILE_TABLES)
    create_search_tables(db)


def finish_new_tables(db: sqlite_utils.Database) -> None:
    """After a build from scratch: the file tables' indexes, then the search index in one pass, merged."""
    for name in FILE_TABLES:
        create_indexes(db, name)
    index_search_tables(db)
    optimise_search_indexes(db)


class RemovalsRefused(RuntimeError):
    """The build would remove rules, and the maintainer did not say --allow-removals."""

    def __init__(self, lines: list[ReportLine], removed: list[str]):
        super().__init__(f"{len(removed)} rule(s) would be removed: {', '.join(removed)}")
        self.lines, self.removed = lines, removed


# Every rule as a line of the comparison, with what a reader needs beside it. Not filtered by date: the site's
# compare queries and /compare page take the lines in force on the day asked (in_force_on), so they and the
# comparison table (the same selection, on the build day) cannot disagree.
RULE_LINES_SQL = """
select dimensions.sort_order, dimensions.id as dimension, dimensions.domain, dimensions.label_en as question_label,
  dimensions.question_en as question, rules.jurisdiction as country, rules.id as rule_id, rules.title_en as title,
  rules.answer_line, rules.citation, rules.provision, rules.status, rules.status_warning, rules.verification,
  rules.effective_from, rules.effective_to, rules.confirmed_until, rules.last_verified,
  instruments.official_url, instruments.id as instrument_id, coverage.complete_from as coverage_from
from rules
join dimensions on dimensions.id = rules.dimension_id
join instruments on instruments.id = rules.instrument_id
left join coverage on coverage.jurisdiction = rules.jurisdiction and coverage.domain = rules.domain
"""


@dataclass
class BuildResult:
    counts: dict[str, int]
    run: IngestRun
    report: list[ReportLine]
    first_build: bool
    history: history.History


def _changes_of(batch: list[Instrument], previous: report.Snapshot) -> list[ReportLine]:
    """The report's lines for a batch of files read again, against (and taken out of) the previous snapshot."""
    ids = {"instruments": [instrument.id for instrument in batch], "rules": [r.id for i in batch for r in i.rules]}
    if not any(key in previous[table] for table, keys in ids.items() for key in keys):
        return [ReportLine(table, key, "added") for table, keys in ids.items() for key in keys]
    before = {
        table: {key: previous[table].pop(key) for key in keys if key in previous[table]} for table, keys in ids.items()
    }
    return report.diff(before, report.snapshot_of(batch))


@dataclass
class FileStream:
    """One build's pass over the instrument files it reads again: read ahead in workers, checked, written."""

    db: sqlite_utils.Database
    reference: KnowledgeBase
    previous: sqlite3.Connection | None
    previous_snapshot: report.Snapshot
    dates: dict[str, tuple[str, str]]
    workers: Workers
    seen_ids: set[str]
    problems: list[Problem]
    written: list[tuple[str, Instrument]] = field(default_factory=list)  # (file, skeleton), for the checks after
    lines: list[ReportLine] = field(default_factory=list)
    halted: bool = False

    def run(self, data_dir: Path, paths: list[str], on_file: Callable[[], None]) -> None:
        batches = [paths[start : start + FILES_PER_BATCH] for start in range(0, len(paths), FILES_PER_BATCH)]
        pooled = self.workers.pooled(len(paths), MIN_FILES_FOR_POOL)
        # Pooled, each batch goes to the workers before the one before it is checked and written here.
        reading = self._read_later(data_dir, batches[0]) if pooled and batches else []
        for batch, following in zip(batches, [*batches[1:], []][: len(batches)], strict=True):
            if pooled:
                ahead = self._read_later(data_dir, following)
                read = [future.result() for future in reading]
                reading = ahead
            else:
                read = [read_instrument_file((data_dir / path, path)) for path in batch]
            self.take(list(zip(batch, read, strict=True)))
            crash_point("after-a-batch")
            for _ in batch:
                on_file()

    def _read_later(self, data_dir: Path, paths: list[str]) -> list:
        return [self.workers.submit(read_instrument_file, (data_dir / path, path)) for path in paths]

    def take(self, read: list[tuple[str, tuple[str | None, Any, Problem | None]]]) -> None:
        """Check a batch of read files and, while the build has found no problem, derive and write them."""
        batch: list[tuple[str, str, Instrument]] = []
        for path, (digest, content, problem) in read:
            if problem:
                self.problems.append(problem)
                continue
            instrument, found = validate_instrument_file(LoadedFile(path, content))
            self.problems += found
            if instrument is not None:
                batch.append((path, str(digest), instrument))
        ids = [key for _, _, instrument in batch for key in (instrument.id, *(rule.id for rule in instrument.rules))]
        instruments = [instrument for _, _, instrument in batch]
        part = KnowledgeBase(**{**vars(self.reference), "instruments": instruments})
        if (
            len(set(ids)) < len(ids)
            or self.seen_ids.intersection(ids)
            or references_to_reference_tables(part, {instrument.id: path for path, _, instrument in batch})
        ):
            self.halted = True  # check_across_files, after the last file, names each problem; nothing more is written
        self.seen_ids.update(ids)
        if not self.problems and not self.halted:
            self.write(batch)
            self.lines += _changes_of(instruments, self.previous_snapshot)
        self.written += [(path, skeleton(instrument)) for path, _, instrument in batch]

    def write(self, batch: list[tuple[str, str, Instrument]]) -> None:
        instruments = [instrument for _, _, instrument in batch]
        derive_instruments(instruments, self.reference.fx_rates)
        rules = [rule for instrument in instruments for rule in instrument.rules]
        for rule in rules:
            first_seen, last_changed = self.dates.get(rule.id, (None, None))
            rule.first_seen = dt.date.fromisoformat(first_seen) if first_seen else None
            rule.last_changed = dt.date.fromisoformat(last_changed) if last_changed else None
        insert_records(self.db, "instruments", instruments)
        insert_records(self.db, "amendments", amendments(instruments))
        insert_records(self.db, "rules", rules)
        insert_records(self.db, "sources", [source for rule in rules for source in rule.sources])
        insert_records(
            self.db,
            "build_files",
            [
                BuildFile(path=path, content_hash=digest, instrument_id=instrument.id)
                for path, digest, instrument in batch
            ],
        )
        texts = searchable_texts(self.reference.authorities, instruments)
        marks = ", ".join("?" * len(instruments))
        for table, key_column in (("rules", "instrument_id"), ("instruments", "id")):
            rowids = dict(
                self.db.execute(
                    f"select id, rowid from [{table}] where {key_column} in ({marks})", [i.id for i in instruments]
                ).fetchall()
            )
            records = [(key, rowids[key], fields) for key, fields in texts[table]]
            index_records(self.db, table, records, self.previous, self.workers.map)


def _update_history_dates(db: sqlite_utils.Database, carried: list[Instrument], dates: dict) -> None:
    """Carried rules keep their rows; only their first_seen / last_changed follow the history walked now."""
    stale = []
    for rule in (rule for instrument in carried for rule in instrument.rules):
        first_seen, last_changed = dates.get(rule.id, (None, None))
        if (first_seen, last_changed) != (_iso(rule.first_seen), _iso(rule.last_changed)):
            stale.append((first_seen, last_changed, rule.id))
    db.conn.executemany("update rules set first_seen = ?, last_changed = ? where id = ?", stale)


def _iso(day: dt.date | str | None) -> str | None:
    return day.isoformat() if isinstance(day, dt.date) else day


def _instrument_paths(data_dir: Path) -> list[str]:
    return [shown_path(data_dir, path) for path in instrument_files(data_dir)]


def build(
    data_dir: Path,
    db_path: Path,
    dry_run: bool = False,
    lock_wait_seconds: float = 60,
    on_file: Callable[[], None] = lambda: None,
    allow_removals: bool = False,
) -> BuildResult:
    """Read, check and write the data files into a new kb.db, report what changed, then (unless dry_run) replace it.

    Files are read and written a batch at a time, so memory holds one batch of rules plus a skeleton of the rest.
    Files unchanged since the kb.db being replaced are carried over from it unread (incremental.py). Every
    problem in every file is collected; if there is any, DataError is raised and nothing is replaced.
    """
    with ingest_lock(db_path, lock_wait_seconds):
        remove_stale_temporaries(db_path)
        loaded = load_reference(data_dir)
        reference_records, problems = validate_reference(loaded.reference)
        problems = loaded.problems + problems
        reference = KnowledgeBase(**reference_records, instruments=[])
        if not problems:
            derive_reference(reference)
        paths = _instrument_paths(data_dir)
        inputs = inputs_hash(data_dir)
        plan = plan_build({path: current_hash(data_dir / path) for path in paths}, previous_files(db_path, inputs))
        previous = report.read_previous(db_path, plan.dropped if plan.start_from_previous else None)
        walked = history.walk(data_dir, previous_db=db_path)
        dates = walked.rule_dates()
        at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        target = scratch_target(db_path) if dry_run else atomic_target(db_path)
        with target as temporary, Workers(prepare=warm_up) as workers:
            if plan.start_from_previous:
                shutil.copyfile(db_path, temporary)
            db = sqlite_utils.Database(temporary)
            # The file is private until renamed, and a failed build deletes it: no journal, no syncs until the end.
            db.execute("pragma journal_mode = off")
            db.execute("pragma synchronous = off")
            earlier = _open_previous(db_path)
            with db.conn:
                if plan.start_from_previous:
                    delete_rows_of(db.conn, plan.dropped)
                    carried = carried_skeletons(db.conn, plan.carried.values())
                else:
                    create_tables(db)
                    carried = []
                stream = FileStream(
                    db,
                    reference,
                    earlier,
                    previous.snapshot,
                    dates,
                    workers,
                    seen_ids={key for i in carried for key in (i.id, *(rule.id for rule in i.rules))},
                    problems=problems,
                )
                for _ in plan.carried:
                    on_file()
                stream.run(data_dir, plan.fresh, on_file)
                order = {path: position for position, path in enumerate(paths)}
                carried_by_id = {instrument.id: instrument for instrument in carried}
                located = sorted(
                    [*((path, carried_by_id[key]) for path, key in plan.carried.items()), *stream.written],
                    key=lambda pair: order[pair[0]],
                )
                kb = KnowledgeBase(**reference_records, instruments=[instrument for _, instrument in located])
                files: dict[str, str] = {}
                for path, instrument in located:
                    files.setdefault(instrument.id, path)
                problems += check_across_files(kb, files, [path for path, _ in located])
                if problems:
                    raise DataError(problems)
                if stream.halted:
                    raise RuntimeError("the build stopped writing for a problem the checks then did not report")
                lines = report.in_report_order(
                    stream.lines + report.diff(previous.snapshot, {table: {} for table in report.TRACKED})
                )
                removed = [line.record_id for line in lines if line.action == "removed" and line.table_name == "rules"]
                if removed and not allow_removals and not dry_run:
                    raise RemovalsRefused(lines, removed)
                history.describe(walked.changes, kb)
                _update_history_dates(db, carried, dates)
                counts = {"instruments": len(kb.instruments), "rules": len(kb.rules), "files_read": len(plan.fresh)}
                run = report.new_run(
                    previous,
                    at,
                    report.data_hash(data_dir),
                    history.git_commit(data_dir),
                    "git" if walked.available else history.UNAVAILABLE,
                    lines,
                    counts,
                )
                run.inputs_hash = inputs
                tables = whole_set_tables(
                    reference, kb, [*previous.runs, run.model_dump(mode="json")], walked, earlier, dt.date.today()
                )
                counts |= write_whole_set_tables(db, tables)
                crash_point("while-writing")
            if earlier is not None:
                earlier.close()
            for name in FILE_TABLES:
                counts[name] = db.table(name).count
            db.execute("drop view if exists rule_lines")
            db.create_view("rule_lines", RULE_LINES_SQL)
            dangling = db.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:  # the checks rule these out; a hit here is a bug in the ingest, not in the data
                raise RuntimeError(f"foreign key check failed: {dangling[:5]}")
            if not plan.start_from_previous:
                finish_new_tables(db)
            db.analyze()
            db.close()
        return BuildResult(counts, run, lines, first_build=not previous.runs, history=walked)
