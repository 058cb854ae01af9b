"""History: the history of data/ as git records it, commit by commit, field by field.

For each commit that touched an instrument file, the rules and instruments it
added, removed or changed (old -> new) become rows of `changes`, each with a
stable id (commit, record, field), so a fresh clone builds the same rows and
the feed keeps its entry ids. first_seen and last_changed come from the same
walk. The history lives in git, not in kb.db: deleting kb.db loses nothing.

A rebuild reuses the rows the previous kb.db holds for commits it has already
walked (when they are still the first commits of the history), and reads only
the newer commits, so a long history costs little on the next ingest.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .load import INSTRUMENT_DIRS, DataLoader
from .models import Change, HistoryCommit
from .report import TRACKED, ReportLine, Snapshot, diff

UNAVAILABLE = "unavailable: data/ is not in a git checkout"
FIELD_SEPARATOR, COMMIT_SEPARATOR = "\x1f", "\x1e"


@dataclass
class History:
    """The walked history: commits oldest first, their changes, and whether git was there to ask."""

    available: bool
    commits: list[HistoryCommit] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    walked: int = 0  # commits read from git in this build (the rest came from the previous kb.db)

    def rule_dates(self) -> dict[str, tuple[str, str]]:
        """first_seen (first added) and last_changed (latest add or change) of every rule, from the changes."""
        dates: dict[str, tuple[str, str]] = {}
        for change in self.changes:
            if change.table_name != "rules" or change.action == "removed":
                continue
            day = change.at[:10]
            first, _ = dates.get(change.record_id, (day, day))
            dates[change.record_id] = (day if change.action == "added" else first, day)
        return dates


def _git(repo: Path, *args: str, stdin: str | None = None) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, input=stdin
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def flat_records(text: str | None) -> Snapshot:
    """One version of an instrument file as comparable flat records: its instrument and its rules.

    Read as plain YAML, not through the models: an old commit need not satisfy today's contract.
    """
    records: Snapshot = {table: {} for table in TRACKED}
    try:
        content = yaml.load(text, Loader=DataLoader) if text else None
    except yaml.YAMLError:
        return records
    if not isinstance(content, dict):
        return records
    instrument = {key: value for key, value in content.items() if key != "rules"}
    if isinstance(instrument.get("id"), str):
        records["instruments"][instrument["id"]] = {key: _flat(value) for key, value in instrument.items()}
    for rule in content.get("rules") or []:
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            records["rules"][rule["id"]] = {key: _flat(value) for key, value in rule.items()}
    return records


def _flat(value: Any) -> Any:
    """Lists and mappings (sources, amends) compared as one canonical JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


class BlobReader:
    """Reads many file versions through one `git cat-file --batch` process instead of one process each."""

    def __init__(self, repo: Path):
        self.process = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def read(self, commit: str, path: str) -> str | None:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(f"{commit}:{path}\n".encode())
        self.process.stdin.flush()
        header = self.process.stdout.readline().decode().split()
        if len(header) < 3 or header[1] != "blob":
            return None
        content = self.process.stdout.read(int(header[2]) + 1)[:-1]
        return content.decode("utf-8", "replace")

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait()


def _commits_touching(repo: Path, paths: list[str]) -> list[tuple[HistoryCommit, list[str]]]:
    """Every commit that touched the instrument folders, oldest first, with the files it touched."""
    log = (
        _git(
            repo,
            "log",
            "--reverse",
            "--no-renames",
            "--name-only",
            f"--format={COMMIT_SEPARATOR}%H{FIELD_SEPARATOR}%cI{FIELD_SEPARATOR}%s",
            "--",
            *paths,
        )
        or ""
    )
    commits = []
    for position, block in enumerate(log.split(COMMIT_SEPARATOR)[1:], start=1):
        header, _, names = block.partition("\n")
        sha, date, message = header.split(FIELD_SEPARATOR, 2)
        commit = HistoryCommit(git_commit=sha, position=position, at=date, message=message)
        commits.append((commit, [name for name in names.splitlines() if name.strip()]))
    return commits


def _files_at(repo: Path, reader: BlobReader, commit: str, paths: list[str]) -> dict[str, Snapshot]:
    """Every instrument file as it stood at a commit, as flat records."""
    listing = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", *paths) or ""
    return {name: flat_records(reader.read(commit, name)) for name in listing.splitlines() if name}


def _merged(files: Iterable[Snapshot], keys: dict[str, set[str]]) -> Snapshot:
    """The records with these ids, wherever they are filed (a rule may move between files)."""
    merged: Snapshot = {table: {} for table in TRACKED}
    for records in files:
        for table in TRACKED:
            for record_id in keys[table] & records[table].keys():
                merged[table].setdefault(record_id, records[table][record_id])
    return merged


def _change(commit: HistoryCommit, line: ReportLine) -> Change:
    suffix = f":{line.field}" if line.field else f":{line.action}"
    return Change(
        id=f"{commit.git_commit[:12]}:{line.table_name}:{line.record_id}{suffix}",
        git_commit=commit.git_commit,
        at=commit.at,
        message=commit.message,
        table_name=line.table_name,
        record_id=line.record_id,
        action=line.action,
        field=line.field,
        old=line.old,
        new=line.new,
    )


def read_cached(db_path: Path | None) -> tuple[list[HistoryCommit], list[Change]]:
    """The commits and changes a previous kb.db already holds; nothing when it has none or cannot be read."""
    if db_path is None or not db_path.exists():
        return [], []
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        commits = [
            HistoryCommit(**dict(row)) for row in connection.execute("select * from history_commits order by position")
        ]
        changes = [Change(**dict(row)) for row in connection.execute("select * from changes order by rowid")]
        connection.close()
        return commits, changes
    except (sqlite3.DatabaseError, TypeError, ValueError):  # an older or damaged kb.db: walk everything
        return [], []


def walk(data_dir: Path, previous_db: Path | None = None) -> History:
    """The history of the instrument files under data_dir, reusing what previous_db already holds."""
    top = _git(data_dir, "rev-parse", "--show-toplevel")
    if top is None:
        return History(available=False)
    repo = Path(top.strip())
    prefix = data_dir.resolve().relative_to(repo.resolve()).as_posix()
    paths = [folder if prefix == "." else f"{prefix}/{folder}" for folder in INSTRUMENT_DIRS]
    commits = _commits_touching(repo, paths)

    cached_commits, cached_changes = read_cached(previous_db)
    reused = 0
    while (
        reused < min(len(cached_commits), len(commits))
        and cached_commits[reused].git_commit == commits[reused][0].git_commit
    ):
        reused += 1
    kept = {commit.git_commit for commit in cached_commits[:reused]}
    history = History(
        available=True,
        commits=[commit for commit, _ in commits],
        changes=[change for change in cached_changes if change.git_commit in kept],
    )

    reader = BlobReader(repo)
    try:
        files = _files_at(repo, reader, commits[reused - 1][0].git_commit, paths) if reused else {}
        for commit, touched in commits[reused:]:
            before = {name: files.get(name, flat_records(None)) for name in touched}
            for name in touched:
                files[name] = flat_records(reader.read(commit.git_commit, name))
            keys = {
                table: {
                    record_id
                    for version in [*before.values(), *(files[n] for n in touched)]
                    for record_id in version[table]
                }
                for table in TRACKED
            }
            old = _merged([*before.values(), *(files[n] for n in files if n not in touched)], keys)
            new = _merged(files.values(), keys)
            history.changes += [_change(commit, line) for line in diff(old, new)]
            history.walked += 1
    finally:
        reader.close()
    return history


def git_commit(data_dir: Path) -> str | None:
    """The commit checked out where data_dir lives, if it is in git."""
    head = _git(data_dir, "rev-parse", "HEAD")
    return head.strip() if head else None


def _shown(value: str | None, unit: str | None = None) -> str:
    """A value as a researcher reads it: numbers with thousands separators, long text cut, empty said."""
    if value is None or value == "":
        return "(empty)"
    try:
        number = float(value)
        text = f"{number:,.0f}" if number.is_integer() else f"{number:,}"
        return f"{text} {unit}" if unit else text
    except ValueError:
        return value if len(value) <= 100 else value[:99] + "…"


def describe(changes: list[Change], kb: Any) -> None:
    """Give each change a line in words, naming the record by its current title (or its id if it is gone)."""
    rules = {rule.id: rule for rule in kb.rules}
    instruments = {instrument.id: instrument for instrument in kb.instruments}
    for change in changes:
        if change.table_name == "rules":
            rule = rules.get(change.record_id)
            label = f"{rule.jurisdiction} {rule.title_en}" if rule else f"rule {change.record_id}"
            unit = rule.threshold_unit if rule and change.field == "threshold_amount" else None
        else:
            instrument = instruments.get(change.record_id)
            label = instrument.citation if instrument else f"instrument {change.record_id}"
            unit = None
        if change.action == "changed":
            field_name = (change.field or "").replace("_", " ")
            change.description = f"{label}: {field_name}: {_shown(change.old, unit)} → {_shown(change.new, unit)}"
        else:
            change.description = f"{label}: {change.action}"
