"""Atomic writes and one writer at a time: how kb.db is replaced without readers ever seeing half a file."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Fault injection for the crash-safety tests: REGKB_CRASH_AT=<point> makes the ingest SIGKILL itself there,
# so each test lands in a known state instead of racing a timer.
CRASH_POINT_VARIABLE = "REGKB_CRASH_AT"
CRASH_POINTS = ("before-temporary", "after-a-batch", "while-writing", "after-fsync", "after-rename")


def crash_point(name: str) -> None:
    """Die at once, as a power cut or kill -9 would, when REGKB_CRASH_AT names this point."""
    if os.environ.get(CRASH_POINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class IngestBusy(RuntimeError):
    """Another ingest holds the lock on the same kb.db."""


def temporary_beside(db_path: Path) -> Path:
    """This process's temporary file beside db_path (remove_stale_temporaries finds those of killed builds)."""
    resolved = db_path.resolve()
    temporary = resolved.with_name(f".{resolved.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    return temporary


@contextmanager
def atomic_target(db_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside db_path; on success fsync it and rename it over db_path, on failure remove it."""
    db_path = db_path.resolve()
    temporary = temporary_beside(db_path)
    crash_point("before-temporary")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        crash_point("after-fsync")
        os.replace(temporary, db_path)
        crash_point("after-rename")
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def scratch_target(db_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside db_path that is always removed: a dry run builds into it and keeps nothing."""
    temporary = temporary_beside(db_path)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def ingest_lock(db_path: Path, wait_seconds: float = 60) -> Iterator[None]:
    """Let one ingest at a time write db_path: a second one waits, then fails with a clear message."""
    resolved = db_path.resolve()  # two paths to one file (a symlink) must take the same lock
    lock_path = resolved.with_name(f".{resolved.name}.lock")
    with open(lock_path, "a+") as lock:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as busy:
                if time.monotonic() > deadline:
                    raise IngestBusy(
                        f"another ingest is writing {db_path}; gave up after {wait_seconds:.0f} s"
                    ) from busy
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


SQLITE_HEADER = b"SQLite format 3\x00"


def check_target(db_path: Path) -> None:
    """Refuse to build over anything but a SQLite database (or a new path) in a folder that exists and is writable."""
    folder = db_path.resolve().parent
    if not folder.is_dir():
        raise TargetRefused(f"--db {db_path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise TargetRefused(f"--db {db_path}: folder {folder} is not writable")
    if db_path.exists() or db_path.is_symlink():
        if not db_path.resolve().is_file():
            raise TargetRefused(f"--db {db_path}: not a regular file; refusing to replace it")
        with open(db_path, "rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise TargetRefused(f"--db {db_path}: not a SQLite database; refusing to replace it")


class TargetRefused(ValueError):
    """The --db path is not something a build may replace."""


def remove_stale_temporaries(db_path: Path) -> None:
    """Delete temporary builds left by a killed ingest; safe only while holding the lock."""
    resolved = db_path.resolve()
    for stale in resolved.parent.glob(f".{resolved.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
