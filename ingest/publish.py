"""Publish: how kb.db is served with Datasette, in one place for `regkb serve` and the tests.

The database is served immutable (Datasette opens it read-only and may cache
counts), with metadata.yml, the project's templates, plugins and static files,
and settings chosen for this data (see ../shared/research/search-and-serving.md).
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from pathlib import Path

from .models import TABLE_MODELS

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


CACHE_MAX_BYTES = 64 * 1024 * 1024
CACHE_MAX_ENTRY_BYTES = 1024 * 1024
CACHE_HEADER = (b"x-regkb-cache", b"hit")


def response_cache(app, max_bytes: int = CACHE_MAX_BYTES, max_entry_bytes: int = CACHE_MAX_ENTRY_BYTES):
    """ASGI middleware keeping recent successful GET responses in memory, least recently used out first.

    Correct only because kb.db is immutable while it is served: the same URL always
    gives the same answer. Popular pages (the faceted rules table, the comparison)
    then cost a dictionary look-up instead of a dozen queries and a render.
    Large responses (full CSV exports) are passed through, never held.
    """
    entries: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
    held = 0

    async def cached_app(scope, receive, send):
        nonlocal held
        if scope["type"] != "http" or scope["method"] != "GET":
            await app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        if key in entries:
            entries.move_to_end(key)
            start, body = entries[key]
            await send(dict(start, headers=[*start["headers"], CACHE_HEADER]))
            await send({"type": "http.response.body", "body": body})
            return
        start: dict | None = None
        chunks: list[bytes] | None = []

        async def capture(message):
            nonlocal start, chunks
            if message["type"] == "http.response.start":
                start = message
                if message["status"] != 200:
                    chunks = None
            elif message["type"] == "http.response.body" and chunks is not None:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > max_entry_bytes:
                    chunks = None
            await send(message)

        await app(scope, receive, capture)
        if start is not None and chunks is not None:
            body = b"".join(chunks)
            entries[key] = (start, body)
            held += len(body)
            while held > max_bytes:
                _, (_, dropped) = entries.popitem(last=False)
                held -= len(dropped)

    return cached_app


DB_ENVIRONMENT_VARIABLE = "REGKB_DB"


def asgi_app():
    """ASGI app factory for `regkb serve --workers N`: each uvicorn worker process serves the same immutable file."""
    return make_datasette(Path(os.environ[DB_ENVIRONMENT_VARIABLE])).app()


def serve_with_workers(db_path: Path, host: str, port: int, workers: int) -> None:
    """Serve kb.db from several processes sharing one socket: one Python process tops out near one core."""
    import uvicorn

    os.environ[DB_ENVIRONMENT_VARIABLE] = str(db_path.resolve())
    uvicorn.run("ingest.publish:asgi_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


def is_stale(db_path: Path, data_dir: Path) -> bool:
    """True when kb.db is missing or any data file is newer than it."""
    if not db_path.exists():
        return True
    built = db_path.stat().st_mtime
    return any(path.stat().st_mtime > built for path in data_dir.rglob("*.y*ml"))


def column_metadata() -> dict[str, dict]:
    """Datasette metadata for every contract table: its description and column descriptions, from the models."""
    return {
        table: {"description": (model.__doc__ or "").strip(), "columns": model.column_descriptions()}
        for table, model in TABLE_MODELS.items()
    }
