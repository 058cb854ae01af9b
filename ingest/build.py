"""Build: write a validated knowledge base into kb.db with sqlite-utils, atomically.

Tables and their column order come from the models (ingest/models.py). The
database is written to a temporary file beside the target and renamed over it
only once complete, so readers and a failed build never see a half-written
kb.db.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils

from . import history, report
from .atomic import atomic_target, crash_point, ingest_lock, remove_stale_temporaries
from .comparison import comparison_rows
from .derive import amendments
from .figures import drawn_timeline, events_hash
from .models import (
    NESTED_FIELDS,
    TABLE_MODELS,
    VOCABULARIES,
    Figure,
    IngestRun,
    KnowledgeBase,
    Record,
    data_dictionary,
    vocabulary_terms,
)
from .report import ReportLine
from .search_index import create_search_index, searchable_texts
from .timeline import timeline_events


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


def rows(records: typing.Sequence[Record]) -> list[dict[str, Any]]:
    return [record.model_dump(mode="json", exclude=NESTED_FIELDS) for record in records]


def _create_table(db: sqlite_utils.Database, name: str, records: list[dict[str, Any]]) -> None:
    model = TABLE_MODELS[name]
    table = db.table(name)
    table.create(column_types(model), pk=model.primary_key, foreign_keys=list(model.foreign_keys))
    table.insert_all(records, batch_size=1000)
    for column in model.indexed:
        table.create_index([column])


def vocabulary_rows(vocabulary: type[StrEnum]) -> list[dict[str, Any]]:
    return rows(vocabulary_terms(vocabulary))


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


def write_database(
    kb: KnowledgeBase,
    path: Path,
    runs: list[dict],
    walked: history.History,
    on_step: Callable[[], None] = lambda: None,
    previous_db: Path | None = None,
) -> dict[str, int]:
    """Write every table of the contract, and the ingest history, into a new SQLite file at path; return row counts.

    on_step is called after each table and each search index (BUILD_STEPS in all), for a progress bar.
    previous_db, the kb.db being replaced, lends the work it already did for identical inputs.
    """
    previous = _open_previous(previous_db)
    as_at = dt.date.today()
    events = timeline_events(kb)
    timeline_hash = events_hash(events, as_at)
    # Each table's rows are made just before they are written and dropped after, to bound memory.
    tables: dict[str, Callable[[], list[dict[str, Any]]]] = {
        **{name: functools.partial(vocabulary_rows, vocabulary) for name, vocabulary in VOCABULARIES.items()},
        "jurisdictions": lambda: rows(kb.jurisdictions),
        "authorities": lambda: rows(kb.authorities),
        "dimensions": lambda: rows(kb.dimensions),
        "fx_rates": lambda: rows(kb.fx_rates),
        "instruments": lambda: rows(kb.instruments),
        "amendments": lambda: rows(amendments(kb)),
        "rules": lambda: rows(kb.rules),
        "sources": lambda: rows([source for rule in kb.rules for source in rule.sources]),
        "coverage": lambda: rows(kb.coverage),
        "glossary": lambda: rows(kb.glossary),
        "glossary_sources": lambda: rows([source for term in kb.glossary for source in term.sources]),
        "comparison": lambda: rows(comparison_rows(kb, as_at)),
        "events": lambda: rows(events),
        "figures": lambda: rows(
            [_previous_figure(previous, "timeline", timeline_hash) or drawn_timeline(events, timeline_hash, as_at)]
        ),
        "ingest_runs": lambda: runs,
        "columns": lambda: rows(data_dictionary()),
        "history_commits": lambda: rows(walked.commits),
        "changes": lambda: rows(walked.changes),
    }
    counts = {}
    db = sqlite_utils.Database(path)
    with db.conn:
        for name, make_rows in tables.items():
            records = make_rows()
            _create_table(db, name, records)
            counts[name] = len(records)
            del records
            on_step()
            if name == "rules":
                crash_point("while-writing")
        for name, texts in searchable_texts(kb).items():
            create_search_index(db, name, texts, previous)
            on_step()
    if previous is not None:
        previous.close()
    db.create_view("rule_lines", RULE_LINES_SQL)
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:  # validation rules these out; a hit here is a bug in the ingest, not in the data
        raise RuntimeError(f"foreign key check failed: {dangling[:5]}")
    db.analyze()
    db.close()
    return counts


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


BUILD_STEPS = len(TABLE_MODELS) + len(("rules", "instruments"))


def build(
    kb: KnowledgeBase,
    db_path: Path,
    data_dir: Path,
    dry_run: bool = False,
    lock_wait_seconds: float = 60,
    on_step: Callable[[], None] = lambda: None,
    allow_removals: bool = False,
) -> BuildResult:
    """Walk the git history, compare the new build with the existing kb.db, then (unless dry_run) replace it.

    kb is validated and derived (derive.derive has filled its computed fields).
    """
    with ingest_lock(db_path, lock_wait_seconds):
        remove_stale_temporaries(db_path)
        previous = report.read_previous(db_path)
        at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        lines = report.diff(previous.snapshot, report.snapshot_of(kb))
        removed = [line.record_id for line in lines if line.action == "removed" and line.table_name == "rules"]
        if removed and not allow_removals and not dry_run:
            raise RemovalsRefused(lines, removed)
        walked = history.walk(data_dir, previous_db=db_path)
        history.describe(walked.changes, kb)
        dates = walked.rule_dates()
        for rule in kb.rules:
            first_seen, last_changed = dates.get(rule.id, (None, None))
            rule.first_seen = dt.date.fromisoformat(first_seen) if first_seen else None
            rule.last_changed = dt.date.fromisoformat(last_changed) if last_changed else None
        run = report.new_run(
            previous,
            at,
            report.data_hash(data_dir),
            history.git_commit(data_dir),
            "git" if walked.available else history.UNAVAILABLE,
            lines,
            kb,
        )
        counts: dict[str, int] = {}
        if not dry_run:
            with atomic_target(db_path) as temporary:
                counts = write_database(
                    kb, temporary, [*previous.runs, run.model_dump(mode="json")], walked, on_step, previous_db=db_path
                )
        return BuildResult(counts, run, lines, first_build=not previous.runs, history=walked)
