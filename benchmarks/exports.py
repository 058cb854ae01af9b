"""Benchmark: full CSV exports against one server process, alone and under mixed load.

    python -m benchmarks.exports --db /tmp/regkb-bench/ingest-100000/kb.db

1. Memory: the resident size of one `datasette serve` process before and after each of 5 full CSV exports of
   `rules` (streamed, every row counted).
2. Mixed load, 8 clients for 30 s: 3 request the faceted rules table (JSON), 3 a Thai search (JSON), 2 download
   the full CSV over and over. Faceted and search latencies are compared with their idle p50 (30 sequential
   requests before the load); every export must be complete.

Clients are Python threads with their own connections (httpx), sharing the machine's 2 cores with the server.
Writes benchmarks/results/exports-<rules>.json and prints Markdown.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import click
import httpx

from benchmarks.run import RESULTS, free_port, rss_mb, stop_server
from ingest.publish import datasette_command

FACETED = "/kb/rules.json?_facet=jurisdiction&_facet=status&_facet=topic&_size=20"
THAI_SEARCH = "/kb/rules.json?_size=20&_search=" + urllib.parse.quote("ภาษีมูลค่าเพิ่ม")
EXPORT = "/kb/rules.csv?_stream=on&_size=max"


def export_rows(client: httpx.Client, base: str) -> int:
    """Download the full export, streamed; return its data rows (lines after the header; none hold a newline)."""
    rows = -1
    with client.stream("GET", base + EXPORT) as response:
        response.raise_for_status()
        pending = b""
        for chunk in response.iter_bytes():
            pending += chunk
            *lines, pending = pending.split(b"\r\n")
            rows += len(lines)
    return rows + (1 if pending else 0)


def timed_get(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


@click.command()
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--seconds", default=30, show_default=True)
@click.option("--exporters", default=2, show_default=True, help="Export clients in the mixed load (0: pages only).")
@click.option("--skip-exports", is_flag=True, help="Skip the five exports (memory) and run the mixed load only.")
def main(db_path: Path, seconds: int, exporters: int, skip_exports: bool) -> None:
    expected = sqlite3.connect(db_path).execute("select count(*) from rules").fetchone()[0]
    port = free_port()
    server = subprocess.Popen(datasette_command(db_path, "127.0.0.1", port), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=600) as client:
            for _ in range(300):
                try:
                    client.get(base + "/kb.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            for url in (FACETED, THAI_SEARCH):  # warm: caches, dictionary, SQLite pages
                client.get(base + url + "&_warm=1")
            before = rss_mb(server)
            exports = []
            for _ in range(0 if skip_exports else 5):
                started = time.perf_counter()
                rows = export_rows(client, base)
                exports.append({"rows": rows, "complete": rows == expected, "s": round(time.perf_counter() - started, 1),
                                "rss_mb": rss_mb(server)})
            # Idle latencies; unique query strings so the response cache does not answer them.
            idle = {name: [timed_get(client, f"{base}{url}&_n={n}") for n in range(30)]
                    for name, url in (("faceted", FACETED), ("search", THAI_SEARCH))}
        samples: dict[str, list[float]] = {"faceted": [], "search": []}
        errors: list[str] = []
        complete: list[bool] = []
        stop = time.monotonic() + seconds

        def page_client(name: str, url: str, number: int) -> None:
            with httpx.Client(timeout=60) as own:
                count = 0
                while time.monotonic() < stop:
                    count += 1
                    try:
                        samples[name].append(timed_get(own, f"{base}{url}&_c={number}-{count}"))
                    except httpx.HTTPError as error:
                        errors.append(f"{name}: {error!r}")

        def export_client() -> None:
            with httpx.Client(timeout=600) as own:
                while time.monotonic() < stop:
                    try:
                        complete.append(export_rows(own, base) == expected)
                    except httpx.HTTPError as error:
                        errors.append(f"export: {error!r}")

        threads = [threading.Thread(target=page_client, args=("faceted", FACETED, n)) for n in range(3)]
        threads += [threading.Thread(target=page_client, args=("search", THAI_SEARCH, n)) for n in range(3)]
        threads += [threading.Thread(target=export_client) for _ in range(exporters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after_load = rss_mb(server)
    finally:
        stop_server(server)
    result = {
        "rules": expected,
        "rss_before_exports_mb": before,
        "exports": exports,
        "rss_after_5_exports_mb": exports[-1]["rss_mb"] if exports else None,
        "rss_after_mixed_load_mb": after_load,
        "mixed_load": {
            "seconds": seconds,
            "export_clients": exporters,
            "errors": errors[:10],
            "error_count": len(errors),
            "exports_finished": len(complete),
            "exports_all_complete": all(complete),
            **{name: {"requests": len(values), "idle_p50_ms": round(statistics.median(idle[name]), 1),
                      "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99),
                      "p99_over_idle_p50": round(percentile(values, 0.99) / statistics.median(idle[name]), 2)}
               for name, values in samples.items()},
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"exports-{expected}{'' if exporters else '-no-exports'}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
