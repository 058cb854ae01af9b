"""Datasette plugins of the site (loaded by path with --plugins-dir); importable as a package by the ingest."""
