"""Benchmark: the first Thai search after the server starts, against the searches after it.

    python -m benchmarks.first_query

Builds kb.db from data/, starts `regkb serve` on a free port of 127.0.0.1, waits until it answers, then times
the first Thai search (uncached: a query never asked before) and ten more distinct Thai searches.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

from tests.conftest import free_port

DATA = Path(__file__).resolve().parent.parent / "data"
QUERIES = ["ภาษีมูลค่าเพิ่ม", "จดทะเบียน", "แพลตฟอร์มดิจิทัล", "บริการทางอิเล็กทรอนิกส์", "กรมสรรพากร", "อัตรา",
           "ผู้ประกอบการ", "ราชกิจจานุเบกษา", "ศุลกากร", "ค่าธรรมเนียม", "ประกาศ"]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "kb.db"
        subprocess.run([sys.executable, "-m", "ingest", "ingest", "--data", str(DATA), "--db", str(db_path)],
                       check=True, capture_output=True)
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "ingest", "serve", "--db", str(db_path), "--data",
                                   str(DATA), "--port", str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    httpx.get(base + "/-/versions.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            ready = time.perf_counter() - started
            timings = []
            for query in QUERIES:
                url = f"{base}/kb/rules.json?_search={urllib.parse.quote(query)}&_shape=array"
                began = time.perf_counter()
                assert httpx.get(url, timeout=30).status_code == 200
                timings.append((time.perf_counter() - began) * 1000)
        finally:
            server.terminate()
            server.wait()
    print(f"server ready after {ready:.2f} s")
    print(f"first Thai search: {timings[0]:.1f} ms; next ten: median {statistics.median(timings[1:]):.1f} ms, "
          f"max {max(timings[1:]):.1f} ms")


if __name__ == "__main__":
    main()
