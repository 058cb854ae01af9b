"""Table and column descriptions for Datasette, taken from the data contract's models.

metadata.yml holds what a person writes (titles, facets, canned queries); the
descriptions of tables and columns come from ingest/models.py so they are
written once. metadata.yml still wins where it says something itself.
"""

from datasette import hookimpl

from ingest.publish import column_metadata


@hookimpl
def get_metadata(datasette, key, database, table):
    return {"databases": {"kb": {"tables": column_metadata()}}}
