"""Search in Thai, Portuguese and English through Datasette's own search box.

Datasette's table search runs `... match escape_fts(:search)`. Replacing the
escape_fts SQL function with ingest.search.fts_query makes every search box
(and the JSON API's ?_search=) segment Thai the way the index was built, while
still quoting every term so punctuation never breaks the query. It must run
after Datasette's own registration of escape_fts, hence trylast.
"""

from datasette import hookimpl

from ingest.search import fts_query


@hookimpl(trylast=True)
def prepare_connection(conn):
    conn.create_function("escape_fts", 1, fts_query, deterministic=True)
    conn.create_function("fts_query", 1, fts_query, deterministic=True)
