"""Publish: how kb.db is served with Datasette, in one place for `regkb serve` and the tests.

The database is served immutable (Datasette opens it read-only and may cache
counts), with metadata.yml, the project's templates, plugins and static files,
and settings chosen for this data (see ../shared/research/search-and-serving.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from uvicorn.protocols.http.h11_impl import H11Protocol

PROJECT_DIR = Path(__file__).resolve().parent.parent
METADATA = PROJECT_DIR / "metadata.yml"
TEMPLATES = PROJECT_DIR / "templates"
PLUGINS = PROJECT_DIR / "plugins"
STATIC = PROJECT_DIR / "static"

SETTINGS = {
    # Facet suggestions run ~30 extra queries on every table page: the largest cost of a stock page.
    "suggest_facets": False,
    # 0 = no limit: a full CSV export must never be cut short.
    "max_csv_mb": 0,
    "facet_time_limit_ms": 500,
    # Bounded, with headroom for a busy 2-core machine (searches failed at 1 s under 8 clients and CSV exports).
    "sql_time_limit_ms": 3000,
    "default_page_size": 100,
    "default_facet_size": 30,
}


def datasette_command(db_path: Path, host: str, port: int) -> list[str]:
    """The `datasette serve` command line for kb.db."""

    def as_text(value: object) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value)

    settings = [arg for name, value in SETTINGS.items() for arg in ("--setting", name, as_text(value))]
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        "-i",
        str(db_path),
        "--metadata",
        str(METADATA),
        "--template-dir",
        str(TEMPLATES),
        "--plugins-dir",
        str(PLUGINS),
        "--static",
        f"static:{STATIC}",
        "--host",
        host,
        "--port",
        str(port),
        *settings,
    ]


def make_datasette(db_path: Path, **settings: object):
    """An in-process Datasette configured exactly like `regkb serve`, for tests and benchmarks.

    settings override SETTINGS (a test may shorten a time limit).
    """
    import yaml
    from datasette.app import Datasette

    return Datasette(
        immutables=[str(db_path)],
        metadata=yaml.safe_load(METADATA.read_text(encoding="utf-8")),
        template_dir=str(TEMPLATES),
        plugins_dir=str(PLUGINS),
        static_mounts=[("static", str(STATIC))],
        settings=SETTINGS | settings,
    )


DB_ENVIRONMENT_VARIABLE = "REGKB_DB"


def asgi_app():
    """ASGI app factory for `regkb serve`: each uvicorn worker process serves the same immutable file."""
    return make_datasette(Path(os.environ[DB_ENVIRONMENT_VARIABLE])).app()


# A connection must deliver its first request's headers within this many seconds, or it is closed: clients that
# open connections and send nothing (or a byte at a time) would otherwise hold a file handle each, for ever.
# Later requests on a kept-alive connection are bounded by uvicorn's keep-alive timeout (5 s).
HEADER_SECONDS_VARIABLE = "REGKB_HEADER_SECONDS"
DEFAULT_HEADER_SECONDS = 10.0
# Open connections per process beyond which requests are answered 503 at once.
CONNECTION_LIMIT = 1000


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the first request of each connection (uvicorn has none)."""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        seconds = float(os.environ.get(HEADER_SECONDS_VARIABLE) or DEFAULT_HEADER_SECONDS)
        self.header_deadline = self.loop.call_later(seconds, self.close_if_no_request)

    def close_if_no_request(self) -> None:
        if self.cycle is None:  # no complete request yet: half-sent headers, or nothing at all
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.header_deadline.cancel()
        super().connection_lost(exc)


def serve_site(db_path: Path, host: str, port: int, workers: int, header_seconds: float) -> None:
    """Serve kb.db with uvicorn: half-sent requests time out, connections are capped; one process per worker.

    The same Datasette, metadata, templates and plugins as `datasette serve` (make_datasette). Several workers
    share one socket: one Python process tops out near one core.
    """
    import uvicorn

    os.environ[DB_ENVIRONMENT_VARIABLE] = str(db_path.resolve())
    os.environ[HEADER_SECONDS_VARIABLE] = str(header_seconds)
    uvicorn.run(
        "ingest.publish:asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HeaderDeadlineProtocol,
        limit_concurrency=CONNECTION_LIMIT,
        log_level="warning",
    )


def is_stale(db_path: Path, data_dir: Path) -> bool:
    """True when kb.db is missing or any data file is newer than it."""
    if not db_path.exists():
        return True
    built = db_path.stat().st_mtime
    return any(path.stat().st_mtime > built for path in data_dir.rglob("*.y*ml"))
