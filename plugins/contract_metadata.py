"""Table and column descriptions for Datasette, read from the `columns` table the ingest writes into kb.db.

metadata.yml holds what a person writes (titles, facets, canned queries) under
the database name `kb`; the descriptions of tables and columns come from the
data contract's models by way of kb.db, so they are written once and travel with
the file. Served under another name (site.db), the same metadata applies: it is
offered under the name the file was given. metadata.yml still wins where it says
something itself.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

from datasette import hookimpl

METADATA_NAME = "kb"  # the database name metadata.yml is written for


@lru_cache(maxsize=8)
def _descriptions(path: str) -> dict:
    """{table: {"description": ..., "columns": {column: description}}} from kb.db's columns table."""
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        rows = connection.execute("select table_name, column_name, description from columns").fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()
    tables: dict = {}
    for table, column, description in rows:
        entry = tables.setdefault(table, {"columns": {}})
        if column == "":
            entry["description"] = description
        else:
            entry["columns"][column] = description
    return tables


def _metadata_for(datasette) -> dict:
    """The databases' metadata: metadata.yml's "kb" section under each served name, with the generated
    descriptions. The files are immutable, so it is made once per server and kept (Datasette asks for metadata
    many times a request)."""
    served = tuple(
        (name, db.path)
        for name, db in datasette.databases.items()
        if not db.is_memory and db.path is not None and not name.startswith("_")
    )
    cached = _made.get(id(datasette))
    if cached is not None and cached[0] == served:
        return cached[1]
    local = (getattr(datasette, "_metadata_local", {}) or {}).get("databases", {}).get(METADATA_NAME, {})
    databases = {}
    for name, path in served:
        written = dict(local) if name != METADATA_NAME else {}
        tables = {
            table_name: {**generated, **(local.get("tables", {}).get(table_name, {}))}
            for table_name, generated in _descriptions(path).items()
        }
        databases[name] = {**written, "tables": {**local.get("tables", {}), **tables}}
    _made[id(datasette)] = (served, {"databases": databases})
    return _made[id(datasette)][1]


# Datasette merges metadata.yml over this dict in place on every call; the merge writes the same values each time,
# so the kept dict stays as it is after the first request.
_made: dict[int, tuple[tuple, dict]] = {}


@hookimpl
def get_metadata(datasette, key, database, table):
    return _metadata_for(datasette)
