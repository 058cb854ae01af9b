"""Benchmark: the /compare page on the real data, uncached, through `regkb serve` on 127.0.0.1.

    python -m benchmarks.compare_page

Each request asks for a different date, so the response cache never answers; 3 warm-up requests, then 30 timed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

DATA = Path(__file__).resolve().parent.parent / "data"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "kb.db"
        subprocess.run([sys.executable, "-m", "ingest", "ingest", "--data", str(DATA), "--db", str(db_path)],
                       check=True, capture_output=True)
        port = free_port()
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
            days = [dt.date(2015, 1, 1) + dt.timedelta(days=90 * number) for number in range(33)]
            timings = []
            for number, day in enumerate(days):
                began = time.perf_counter()
                response = httpx.get(f"{base}/compare?date={day}")
                assert response.status_code == 200 and "x-regkb-cache" not in response.headers
                if number >= 3:
                    timings.append((time.perf_counter() - began) * 1000)
        finally:
            server.terminate()
            server.wait()
    quantiles = statistics.quantiles(timings, n=20)
    print(f"/compare, 30 uncached requests: p50 {statistics.median(timings):.1f} ms, p95 {quantiles[18]:.1f} ms")


if __name__ == "__main__":
    main()
