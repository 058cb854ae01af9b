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


@hookimpl
def get_metadata(datasette, key, database, table):
    databases = {}
    for name, db in datasette.databases.items():
        if db.is_memory or db.path is None or name.startswith("_"):
            continue
        local = (getattr(datasette, "_metadata_local", {}) or {}).get("databases", {}).get(METADATA_NAME, {})
        written = dict(local) if name != METADATA_NAME else {}
        tables = {
            table_name: {**generated, **(local.get("tables", {}).get(table_name, {}))}
            for table_name, generated in _descriptions(db.path).items()
        }
        databases[name] = {**written, "tables": {**local.get("tables", {}), **tables}}
    return {"databases": databases}
