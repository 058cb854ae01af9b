"""`python -m ingest` runs the regkb command."""

from .cli import cli

cli()
