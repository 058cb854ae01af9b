"""The regkb command: check the data files, build kb.db, serve it with Datasette."""

from __future__ import annotations

import math
import os
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from .atomic import IngestBusy, TargetRefused, check_target
from .build import BuildResult, RemovalsRefused, build
from .derive import derive
from .layout import misformatted_files, schema_json
from .load import instrument_files, load_data_dir
from .models import KnowledgeBase
from .problems import DataError, errors_markdown
from .publish import DEFAULT_HEADER_SECONDS, PROJECT_DIR, is_stale, serve_site
from .report import format_report
from .validate import validate

DEFAULT_DATA = PROJECT_DIR / "data"
DEFAULT_DB = PROJECT_DIR / "kb.db"

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder of curated YAML files.",
)
db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite file to build or serve.",
)


@contextmanager
def progress(label: str, length: int) -> Iterator[Callable[[], None]]:
    """A progress bar on an interactive terminal; silent when output is piped or logged."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield lambda: bar.update(1)


def exit_with_problems(error: DataError) -> typing.NoReturn:
    """Print every problem, one per line, and exit 1."""
    for problem in error.problems:
        click.echo(f"error: {problem}", err=True)
    click.echo(f"{len(error.problems)} problem(s) found; nothing was written.", err=True)
    sys.exit(1)


def load_and_validate(data_dir: Path) -> KnowledgeBase:
    """Load, validate and derive the data folder, or exit 1 after printing every problem, one per line."""
    if not data_dir.is_dir():
        raise click.ClickException(f"data folder not found: {data_dir}")
    try:
        with progress("Reading data files", len(instrument_files(data_dir))) as tick:
            loaded = load_data_dir(data_dir, tick)
        kb = validate(loaded)
    except DataError as error:
        exit_with_problems(error)
    derive(kb)
    return kb


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """regkb: how Thailand and Portugal register OTT services and tax e-commerce.

    The rules live as YAML files in data/ (one file per legal instrument).
    `regkb check` validates them, `regkb ingest` builds kb.db from them, and
    `regkb serve` publishes kb.db with Datasette on http://127.0.0.1:8001/.
    """


@cli.command()
@data_option
def check(data_dir: Path) -> None:
    """Validate the data files without writing anything.

    Every problem is printed as FILE: RECORD: FIELD: MESSAGE; the exit status is
    1 when there is any.
    """
    kb = load_and_validate(data_dir)
    click.echo(
        f"ok: {len(kb.instruments)} instruments, {len(kb.rules)} rules, {len(kb.dimensions)} comparison questions"
    )


DOCS = PROJECT_DIR / "docs"


def _finite_seconds(value: float) -> float:
    """click's FloatRange lets nan through (nan compares false with both bounds): refuse it."""
    if not math.isfinite(value):
        raise click.BadParameter("must be a number of seconds between 0 and 3600")
    return value


@cli.command()
@click.option(
    "--docs",
    "docs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DOCS,
    show_default=True,
    help="Folder to write instrument.schema.json and errors.md into.",
)
def schema(docs_dir: Path) -> None:
    """Write the JSON Schema of an instrument file and the list of problem codes, both generated from the code.

    Editors that speak the YAML language server check data files against the schema
    (docs/example-instrument.yml shows the line that enables it).
    """
    docs_dir.mkdir(parents=True, exist_ok=True)
    (docs_dir / "instrument.schema.json").write_text(schema_json(), encoding="utf-8")
    (docs_dir / "errors.md").write_text(errors_markdown(), encoding="utf-8")
    click.echo(f"wrote {docs_dir / 'instrument.schema.json'} and {docs_dir / 'errors.md'}")


@cli.command(name="format")
@data_option
@click.option("--check", "check_only", is_flag=True, help="List files not in the canonical layout; change nothing.")
def format_command(data_dir: Path, check_only: bool) -> None:
    """Rewrite instrument files in the one canonical layout (field order, quoted dates, folded text).

    With --check, exit 1 if any file would change.
    """
    changed = misformatted_files(data_dir, rewrite=not check_only)
    for path in changed:
        click.echo(f"{'would reformat' if check_only else 'reformatted'} {path.relative_to(data_dir)}")
    if check_only and changed:
        sys.exit(1)
    click.echo(f"{len(changed)} file(s) {'to reformat' if check_only else 'reformatted'}")


REPORT_LINES = 200


def print_report(result: BuildResult, dry_run: bool) -> None:
    """The change report: one line per added or removed record and per changed field."""
    lines = format_report(result.report)
    verb = "would change" if dry_run else "changed"
    if result.first_build:
        click.echo(
            f"first ingest into this database: {result.run.rule_count} rules, "
            f"{result.run.instrument_count} instruments added"
        )
    elif not lines:
        click.echo("no changes since the last ingest")
    else:
        click.echo(f"{verb} since the last ingest ({len(lines)} line(s)):")
        for line in lines[:REPORT_LINES]:
            click.echo(f"  {line}")
        if len(lines) > REPORT_LINES:
            click.echo(f"  ... and {len(lines) - REPORT_LINES} more")
    walked = result.history
    if walked.available:
        click.echo(
            f"history: {len(walked.changes)} change(s) in {len(walked.commits)} commit(s) of data/ "
            f"({walked.walked} read from git, the rest reused from the previous kb.db)"
        )
    else:
        click.secho(
            "history: unavailable (data/ is not in a git checkout); the site will say so", err=True, fg="yellow"
        )
    removed = [line.record_id for line in result.report if line.action == "removed" and line.table_name == "rules"]
    if removed:
        click.secho(f"WARNING: {len(removed)} rule(s) removed: {', '.join(removed)}", err=True, fg="red", bold=True)


@cli.command()
@data_option
@db_option
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option(
    "--wait",
    "wait_seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    callback=lambda ctx, param, value: _finite_seconds(value),
    help="Seconds to wait for another ingest of the same database to finish.",
)
@click.option(
    "--allow-removals",
    is_flag=True,
    help="Build even though rules would be removed (otherwise the ingest stops and writes nothing).",
)
def ingest(data_dir: Path, db_path: Path, dry_run: bool, wait_seconds: float, allow_removals: bool) -> None:
    """Validate the data files and build kb.db from them, reporting what changed.

    The database is written to a temporary file beside --db and renamed over it
    only when complete, so a failed or interrupted ingest leaves the old kb.db
    exactly as it was. The history of earlier ingests is carried over.
    """
    if not data_dir.is_dir():
        raise click.ClickException(f"data folder not found: {data_dir}")
    try:
        check_target(db_path)
        with progress("Building kb.db", len(instrument_files(data_dir))) as tick:
            result = build(
                data_dir,
                db_path,
                dry_run=dry_run,
                lock_wait_seconds=wait_seconds,
                on_file=tick,
                allow_removals=allow_removals,
            )
    except DataError as error:
        exit_with_problems(error)
    except RemovalsRefused as refused:
        for line in format_report(refused.lines):
            click.echo(f"  {line}")
        raise click.ClickException(
            f"{refused}. Nothing was written; if the removal is meant, run again with --allow-removals."
        ) from refused
    except (IngestBusy, TargetRefused) as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot write {db_path}: {error.strerror or error}") from error
    print_report(result, dry_run)
    if not dry_run:
        click.echo(
            f"built {db_path} (run {result.run.id}): "
            + ", ".join(f"{count} {table}" for table, count in result.counts.items())
        )


@cli.command()
@data_option
@db_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 127.0.0.1 keeps the site on this machine.",
)
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port; use one per core under heavy load.",
)
@click.option(
    "--allowed-host",
    "allowed",
    multiple=True,
    help="A host name the site answers for besides loopback (repeatable); other Host headers get 400.",
)
@click.option(
    "--header-timeout",
    "header_seconds",
    default=DEFAULT_HEADER_SECONDS,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds a new connection has to send its first request's headers before it is closed.",
)
def serve(
    data_dir: Path,
    db_path: Path,
    host: str,
    port: int,
    workers: int,
    allowed: tuple[str, ...],
    header_seconds: float,
) -> None:
    """Serve kb.db read-only with Datasette, building it first if it is missing or stale.

    kb.db is stale when any file under --data is newer than it.
    """
    if is_stale(db_path, data_dir):
        click.echo(f"{db_path} is missing or older than {data_dir}; building it first")
        try:
            check_target(db_path)
            build(data_dir, db_path)
        except DataError as error:
            exit_with_problems(error)
        except (RemovalsRefused, TargetRefused) as refused:
            raise click.ClickException(
                f"not rebuilding {db_path}: {refused}. Run `regkb ingest` (with "
                "--allow-removals if the removal is meant), then serve again."
            ) from refused
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(
            f"WARNING: listening on {host}: the site is reachable from other machines. Put it behind a "
            "reverse proxy that sets Host and limits request times.",
            err=True,
            fg="yellow",
            bold=True,
        )
    names = [*allowed, *([host] if host not in ("0.0.0.0", "::") else [])]
    os.environ["REGKB_ALLOWED_HOSTS"] = ",".join(names)  # read by plugins/regkb_site.py in every worker
    click.echo(f"serving {db_path} on http://{host}:{port}/")
    serve_site(db_path, host, port, workers, header_seconds)
