"""Build: write a validated knowledge base into kb.db with sqlite-utils, atomically.

Tables and their column order come from the models (ingest/models.py). The
database is written to a temporary file beside the target and renamed over it
only once complete, so readers and a failed build never see a half-written
kb.db.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import itertools
import os
import sqlite3
import time
import types
import typing
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import sqlite_utils

from . import history
from .figures import events_hash, timeline_figure
from .models import (
    NESTED_FIELDS,
    TABLE_MODELS,
    Change,
    ComparisonRow,
    Event,
    Figure,
    FxRate,
    IngestRun,
    Record,
)
from .parallel import parallel_map
from .search import FTS_TOKENIZER, index_texts, warm_up
from .validate import KnowledgeBase


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
    return {name: _python_type(field.annotation) for name, field in model.model_fields.items()
            if name not in NESTED_FIELDS}


def rows(records: list[Record]) -> list[dict[str, Any]]:
    return [record.model_dump(mode="json", exclude=NESTED_FIELDS) for record in records]


def _derive_threshold_eur(kb: KnowledgeBase) -> None:
    """Convert currency thresholds to EUR at the newest reference rate held for the currency."""
    newest: dict[str, FxRate] = {}
    for rate in sorted(kb.fx_rates, key=lambda rate: rate.date):
        newest[rate.currency] = rate
    for rule in kb.rules:
        if rule.threshold_amount is None:
            continue
        if rule.threshold_unit == "EUR":
            rule.threshold_eur = rule.threshold_amount
        elif rule.threshold_unit in newest:
            rate = newest[rule.threshold_unit]
            rule.threshold_eur = round(rule.threshold_amount * rate.eur_per_unit, 2)
            rule.threshold_fx_date = rate.date


# In an answer, what applies now comes first, then what is coming, then what has ended.
ANSWER_ORDER = {"in_force": 0, "adopted": 1, "proposed": 2, "expired": 3}


def comparison_rows(kb: KnowledgeBase) -> list[ComparisonRow]:
    """One row per comparison question, with each country's current answer, rules and citations.

    The current answer is made of the rules in force, adopted or proposed, and
    of rules that expired with no successor in the data: the last known state
    of a question (a rate whose extension no source confirms yet) must not
    vanish from the comparison. A question whose rules have all ended shows
    them with their status, so no answer is blank while the country has a rule.
    """
    citations = {instrument.id: instrument.citation for instrument in kb.instruments}
    rules = pd.DataFrame(rows(kb.rules))
    expired_without_successor = (rules["status"] == "expired") & rules["superseded_by"].isna()
    rules["current"] = rules["status"].isin(["in_force", "adopted", "proposed"]) | expired_without_successor
    ended_on = (" " + rules["effective_to"]).fillna("")
    status_prefix = ("[" + rules["status"] + ended_on + "] ").where(rules["status"] != "in_force", "")
    rules["answer"] = status_prefix + rules["title_en"] + ": " + rules["summary_en"]
    rules["cited"] = rules["instrument_id"].map(citations) + (", " + rules["provision"]).fillna("")
    table = []
    for dimension in kb.dimensions:
        row = {"dimension": dimension.id, "domain": dimension.domain, "question": dimension.question_en}
        for country in ("TH", "PT"):
            answering = rules[(rules.dimension_id == dimension.id) & (rules.jurisdiction == country)]
            if answering.current.any():
                answering = answering[answering.current]
            answering = answering.assign(rank=answering["status"].map(ANSWER_ORDER).fillna(len(ANSWER_ORDER)))
            answering = answering.sort_values(["rank", "effective_from", "id"], na_position="last")
            prefix = country.lower()
            row[f"{prefix}_answer"] = "\n".join(answering.answer) or None
            row[f"{prefix}_rules"] = ", ".join(answering.id) or None
            row[f"{prefix}_citations"] = "; ".join(dict.fromkeys(answering.cited)) or None
        table.append(ComparisonRow(**row, sort_order=dimension.sort_order))
    return table


def timeline_events(kb: KnowledgeBase) -> list[Event]:
    """Dated events of every instrument, plus a rule's own start or end where it differs from its instrument's."""
    events = []
    for instrument in kb.instruments:
        lane = "PT" if instrument.jurisdiction == "EU" else instrument.jurisdiction
        domains = pd.Series([rule.domain for rule in instrument.rules], dtype=object)
        domain = domains.mode().sort_values().iloc[0] if len(domains) else None
        common = {"jurisdiction": lane, "domain": domain, "instrument_id": instrument.id, "status": instrument.status}
        for kind, day in (("signed", instrument.signed_date), ("published", instrument.published_date),
                          ("effective", instrument.effective_date), ("ended", instrument.repealed_date)):
            if day:
                label = f"{instrument.citation}: {kind}" + (f" ({instrument.status})" if kind == "ended" else "")
                events.append(Event(id=f"{instrument.id}:{kind}", date=day, kind=kind, label=label, **common))
        for rule in instrument.rules:
            for kind, day, own in (("effective", rule.effective_from, instrument.effective_date),
                                   ("ended", rule.effective_to, instrument.repealed_date)):
                if day and day != own:
                    events.append(Event(
                        id=f"{rule.id}:{kind}", date=day, kind=kind, rule_id=rule.id,
                        label=f"{instrument.citation}: {rule.title_en} ({kind})",
                        **(common | {"domain": rule.domain, "status": rule.status})))
    return sorted(events, key=lambda event: (event.date, event.id))


def _create_table(db: sqlite_utils.Database, name: str, records: list[dict[str, Any]]) -> None:
    model = TABLE_MODELS[name]
    table = db.table(name)
    table.create(column_types(model), pk=model.primary_key, foreign_keys=list(model.foreign_keys))
    table.insert_all(records, batch_size=1000)
    for column in model.indexed:
        table.create_index([column])


def searchable_texts(kb: KnowledgeBase) -> dict[str, Iterator[tuple[str, str]]]:
    """The text each rule and instrument is found by: its own words plus its instrument's and authority's names.

    A rule carries its instrument's citation and titles and its authority's names
    so that "Lei 74/2020", "ERC" or "กรมสรรพากร" find the rules they govern.
    The texts are generated one at a time: held all at once they would take
    gigabytes at 100,000 rules (Python stores Thai text at 4 bytes a character).
    """
    authorities = {authority.id: authority for authority in kb.authorities}

    def join(*parts: str | None) -> str:
        return "\n".join(part for part in parts if part)

    def names(authority_id: str | None) -> str:
        authority = authorities[authority_id]
        return join(authority.name_en, authority.name_native, authority.abbreviation)

    instruments = {
        instrument.id: join(instrument.citation, instrument.title_en, instrument.title_native, instrument.notes,
                            names(instrument.authority_id))
        for instrument in kb.instruments
    }
    rules = (
        (rule.id, join(rule.title_en, rule.summary_en, rule.text_native, rule.provision, rule.notes,
                       instruments[rule.instrument_id], names(rule.authority_id)))
        for rule in kb.rules
    )
    return {"rules": rules, "instruments": iter(instruments.items())}


SEARCH_CHUNK = 5_000


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _previously_indexed(previous: sqlite3.Connection | None, table: str, keys: list[str]) -> dict[str, tuple]:
    """Segmented text the previous kb.db already holds for these ids: (source hash, text, subwords)."""
    if previous is None:
        return {}
    try:
        marks = ", ".join("?" * len(keys))
        found = previous.execute(f"select id, source_hash, text, subwords from [{table}_search] where id in ({marks})",
                                 keys)
        return {key: (source_hash, text, subwords) for key, source_hash, text, subwords in found}
    except sqlite3.DatabaseError:  # an older or damaged kb.db: segment everything again
        return {}


def _create_search_index(db: sqlite_utils.Database, table: str, texts: Iterator[tuple[str, str]],
                         previous: sqlite3.Connection | None) -> None:
    """An FTS5 index over `table`, aligned on its rowids so Datasette's ?_search= can use it (metadata fts_table).

    The text column holds the words with Thai segmented (phrases match there);
    subwords holds the words inside Thai compounds. Text whose hash is unchanged
    since the previous kb.db is copied from it instead of being segmented again.
    """
    rowids = {row["id"]: row["rowid"] for row in db.query(f"select rowid, id from [{table}]")}
    search = db.table(f"{table}_search")
    search.create({"key_rowid": int, "id": str, "text": str, "subwords": str, "source_hash": str}, pk="key_rowid")
    search.create_index(["id"], unique=True)  # the next rebuild looks its texts up by id
    while chunk := list(itertools.islice(texts, SEARCH_CHUNK)):
        hashes = [_text_hash(text) for _, text in chunk]
        known = _previously_indexed(previous, table, [key for key, _ in chunk])
        fresh = [text for (key, text), digest in zip(chunk, hashes) if known.get(key, ("",))[0] != digest]
        if fresh:
            warm_up()
        segmented = iter(parallel_map(index_texts, fresh))
        search.insert_all(
            ({"key_rowid": rowids[key], "id": key, "source_hash": digest,
              **dict(zip(("text", "subwords"),
                         known[key][1:] if known.get(key, ("",))[0] == digest else next(segmented)))}
             for (key, _), digest in zip(chunk, hashes)),
            batch_size=1000,
        )
    search.enable_fts(["text", "subwords"], fts_version="FTS5", tokenize=FTS_TOKENIZER)
    search.optimize()


@contextmanager
def atomic_target(db_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside db_path; on success rename it over db_path, on failure remove it."""
    db_path = db_path.resolve()
    temporary = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, db_path)
    finally:
        temporary.unlink(missing_ok=True)


def _previous_figure(previous: sqlite3.Connection | None, name: str, source_hash: str) -> Figure | None:
    """The previous kb.db's drawing of this figure, if it was drawn from the same events."""
    if previous is None:
        return None
    try:
        previous.row_factory = sqlite3.Row
        row = previous.execute("select * from figures where name = ? and source_hash = ?", [name, source_hash]).fetchone()
        return Figure(**dict(row)) if row else None
    except sqlite3.DatabaseError:
        return None
    finally:
        previous.row_factory = None


def _open_previous(db_path: Path | None) -> sqlite3.Connection | None:
    if db_path is None or not db_path.exists():
        return None
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def write_database(kb: KnowledgeBase, path: Path, runs: list[dict], changes: list[dict],
                   on_step: Callable[[], None] = lambda: None, previous_db: Path | None = None) -> dict[str, int]:
    """Write every table of the contract, and the ingest history, into a new SQLite file at path; return row counts.

    on_step is called after each table and each search index (BUILD_STEPS in all), for a progress bar.
    previous_db, the kb.db being replaced, lends the work it already did for identical inputs.
    """
    previous = _open_previous(previous_db)
    events = timeline_events(kb)
    timeline_hash = events_hash(events)
    # Each table's rows are made just before they are written and dropped after, to bound memory.
    tables: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "jurisdictions": lambda: rows(kb.jurisdictions),
        "authorities": lambda: rows(kb.authorities),
        "dimensions": lambda: rows(kb.dimensions),
        "fx_rates": lambda: rows(kb.fx_rates),
        "instruments": lambda: rows(kb.instruments),
        "rules": lambda: rows(kb.rules),
        "sources": lambda: rows([source for rule in kb.rules for source in rule.sources]),
        "comparison": lambda: rows(comparison_rows(kb)),
        "events": lambda: rows(events),
        "figures": lambda: rows([_previous_figure(previous, "timeline", timeline_hash)
                                 or timeline_figure(events, timeline_hash)]),
        "ingest_runs": lambda: runs,
        "changes": lambda: changes,
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
        for name, texts in searchable_texts(kb).items():
            _create_search_index(db, name, texts, previous)
            on_step()
    if previous is not None:
        previous.close()
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:  # validation rules these out; a hit here is a bug in the ingest, not in the data
        raise RuntimeError(f"foreign key check failed: {dangling[:5]}")
    db.analyze()
    db.close()
    return counts


@contextmanager
def ingest_lock(db_path: Path, wait_seconds: float = 60) -> Iterator[None]:
    """Let one ingest at a time write db_path: a second one waits, then fails with a clear message."""
    lock_path = db_path.resolve().with_name(f".{db_path.name}.lock")
    with open(lock_path, "a+") as lock:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IngestBusy(f"another ingest is writing {db_path}; gave up after {wait_seconds:.0f} s")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class IngestBusy(RuntimeError):
    """Another ingest holds the lock on the same kb.db."""


def _remove_stale_temporaries(db_path: Path) -> None:
    """Delete temporary builds left by a killed ingest; safe because we hold the lock."""
    resolved = db_path.resolve()
    for stale in resolved.parent.glob(f".{resolved.name}.*.tmp*"):
        stale.unlink(missing_ok=True)


@dataclass
class BuildResult:
    counts: dict[str, int]
    run: IngestRun
    changes: list[Change]
    first_build: bool


BUILD_STEPS = len(TABLE_MODELS) + len(("rules", "instruments"))


def build(kb: KnowledgeBase, db_path: Path, data_dir: Path, dry_run: bool = False,
          lock_wait_seconds: float = 60, on_step: Callable[[], None] = lambda: None) -> BuildResult:
    """Compare the new build with the existing kb.db, then (unless dry_run) replace it atomically.

    The history of earlier ingests is read from the old file and carried into
    the new one, with this run's changes added.
    """
    with ingest_lock(db_path, lock_wait_seconds):
        _remove_stale_temporaries(db_path)
        _derive_threshold_eur(kb)
        previous = history.read_previous(db_path)
        at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        run_id = max((run["id"] for run in previous.runs), default=0) + 1
        changes = history.diff(previous.snapshot, history.snapshot_of(kb), run_id, at)
        first_id = max((change["id"] for change in previous.changes), default=0) + 1
        for number, change in enumerate(changes, start=first_id):
            change.id = number
        dates = history.git_rule_dates(data_dir, dt.date.fromisoformat(at[:10])) \
            or history.rule_dates_from_history(previous, changes, [rule.id for rule in kb.rules])
        for rule in kb.rules:
            first_seen, last_changed = dates.get(rule.id, (None, None))
            rule.first_seen = first_seen and dt.date.fromisoformat(first_seen)
            rule.last_changed = last_changed and dt.date.fromisoformat(last_changed)
        run = history.new_run(previous, at, history.data_hash(data_dir), history.git_commit(data_dir), changes, kb)
        counts: dict[str, int] = {}
        if not dry_run:
            with atomic_target(db_path) as temporary:
                counts = write_database(kb, temporary, [*previous.runs, run.model_dump(mode="json")],
                                        [*previous.changes, *rows(changes)], on_step, previous_db=db_path)
        return BuildResult(counts, run, changes, first_build=not previous.runs)
