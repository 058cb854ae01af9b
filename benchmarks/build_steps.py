"""Benchmark: where a build's time goes, step by step, measured in-process with timers around each step.

    python -m benchmarks.build_steps /tmp/regkb-bench/data-100000 /tmp/regkb-bench/steps/kb.db

Builds DATA into DB (use a new path for a first build, the same path again for a rebuild) with ingest.build,
its steps wrapped in timers; prints seconds per step, largest first. "segment wait" is the time the main process
waits for Thai segmentation in the worker processes.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click

from ingest import build as build_module
from ingest import search_index

STEPS = ("finish_new_tables", "write_whole_set_tables", "carried_skeletons", "check_across_files", "delete_rows_of")


def timed(spent: Counter, name: str, function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    return wrapper


@click.command()
@click.argument("data", type=click.Path(file_okay=False, path_type=Path))
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
def main(data: Path, db: Path) -> None:
    spent: Counter = Counter()
    real_insert = build_module.insert_records
    build_module.insert_records = lambda db_, name, records: timed(spent, f"insert {name}", real_insert)(
        db_, name, records
    )
    real_index = search_index.index_records

    def index_records(db_, table, texts, previous, segment):
        return timed(spent, f"search rows {table} (with segment wait)", real_index)(
            db_, table, texts, previous, timed(spent, f"segment wait {table}", segment)
        )

    build_module.index_records = index_records
    for name in STEPS:
        setattr(build_module, name, timed(spent, name, getattr(build_module, name)))
    build_module.FileStream.take = timed(spent, "check, derive and write batches", build_module.FileStream.take)
    build_module.FileStream.run = timed(spent, "file stream in all", build_module.FileStream.run)
    build_module.shutil.copyfile = timed(spent, "copy the previous kb.db", build_module.shutil.copyfile)
    started = time.perf_counter()
    db.parent.mkdir(parents=True, exist_ok=True)
    build_module.build(data, db, allow_removals=True)
    click.echo(f"{time.perf_counter() - started:7.1f}  build in all")
    for name, seconds in spent.most_common():
        if seconds >= 0.05:
            click.echo(f"{seconds:7.1f}  {name}")


if __name__ == "__main__":
    main()
