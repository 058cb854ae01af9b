"""The site as the benchmarks measure it: kb.db built from data/ and `regkb serve` on a free port of 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

DATA = Path(__file__).resolve().parent.parent / "data"


@contextmanager
def served_site(data: Path = DATA) -> Iterator[tuple[str, subprocess.Popen]]:
    """Build kb.db from data into a temporary folder, serve it, and yield (base URL, server process) once it answers."""
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "kb.db"
        subprocess.run([sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)],
                       check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "ingest", "serve", "--db", str(db_path), "--data",
                                   str(data), "--port", str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    httpx.get(base + "/-/versions.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base, server
        finally:
            server.terminate()
            server.wait()
