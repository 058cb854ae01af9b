"""Benchmark regkb from the real rule set to 100,000 synthetic rules (1M behind --million).

For each size: ingest throughput, file size and peak memory; on 127.0.0.1 only,
p50/p95 latency of the site's main pages against the same SQL run directly
with sqlite3 on the same file; full CSV export against sqlite3 + csv; and
throughput under 8 concurrent clients (wrk, bounded to 10 s). Results are
written to benchmarks/results/<size>.json; RESULTS.md is written by hand from them.

    python -m benchmarks.run --sizes real,1000,10000,100000
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import click
import httpx
from datasette.tracer import capture_traces

from benchmarks.generate import generate
from ingest.publish import datasette_command, make_datasette
from plugins import regkb_site, thai_search

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(os.environ.get("REGKB_BENCH_DIR", "/tmp/regkb-bench"))

PAGES = {
    "rules_facets_json": "/kb/rules.json",
    "rules_facets_html": "/kb/rules",
    "filtered_facets_json": "/kb/rules.json?jurisdiction=TH&status=in_force",
    "search_thai_json": "/kb/rules.json?_search=" + urllib.parse.quote("ภาษี"),
    "search_pt_json": "/kb/rules.json?_search=" + urllib.parse.quote("serviços"),
    "comparison_html": "/kb/comparison",
    "compare_json": "/kb/compare.json?date=2024-01-01&domain=",
    "in_force_on_json": "/kb/in_force_on.json?date=2024-01-01",
    "thresholds_eur_json": "/kb/thresholds_eur.json",
    "timeline_json": "/kb/timeline.json",
    "search_query_json": "/kb/search.json?q=VAT",
    "recent_changes_json": "/kb/recent_changes.json",
}
RAW_COMPARED = ("rules_facets_json", "filtered_facets_json", "search_thai_json", "search_pt_json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed_run(command: list[str]) -> dict:
    """Run a command under /usr/bin/time; wall seconds and peak RSS (MB) of the process tree's largest member."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(int(result.stderr.strip().splitlines()[-1]) / 1024, 1),
            "output": result.stdout.strip().splitlines()[-1]}


def prepare(size: str) -> tuple[Path, Path]:
    """The data folder and kb.db path for a size ("real" is the project's own data)."""
    if size == "real":
        return ROOT / "data", WORK / "real" / "kb.db"
    data = WORK / f"data-{size}"
    if not (data / "th").exists():
        generate(int(size), data)
    return data, WORK / size / "kb.db"


def bench_ingest(data: Path, db_path: Path) -> dict:
    if db_path.parent.exists():
        shutil.rmtree(db_path.parent)
    db_path.parent.mkdir(parents=True)
    command = [sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)]
    first = timed_run(command)
    again = timed_run(command)
    rules = sqlite3.connect(db_path).execute("select count(*) from rules").fetchone()[0]
    return {
        "rules": rules,
        "first_build": first, "rebuild": again,
        "rules_per_s": round(rules / first["wall_s"]),
        "db_mb": round(db_path.stat().st_size / 1e6, 1),
    }


def start_server(db_path: Path, data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if workers == 1:
        command = datasette_command(db_path, "127.0.0.1", port)
    else:
        command = [sys.executable, "-m", "ingest", "serve", "--db", str(db_path), "--data", str(data),
                   "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/kb.json", timeout=30).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def rss_mb(server: subprocess.Popen) -> float:
    """Resident memory of the server and its child processes."""
    pids = [server.pid] + [int(p) for p in subprocess.run(["pgrep", "-g", str(server.pid)], capture_output=True,
                                                           text=True).stdout.split()]
    total = 0
    for pid in set(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        except (OSError, AttributeError):
            pass
    return round(total / 1024, 1)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2), "n": len(ordered)}


def traced_sql(db_path: Path, path: str) -> list[tuple[str, dict]]:
    """The SQL Datasette runs for a page, captured with its tracer in an identically configured instance."""
    datasette = make_datasette(db_path)

    async def capture() -> list[dict]:
        await datasette.client.get(path)  # start-up queries (table counts) happen on the first request only
        traces: list[dict] = []
        with capture_traces(traces):
            await datasette.client.get(path)
        return traces

    return [(item["sql"], item["params"] or {}) for item in asyncio.run(capture())
            if item.get("database") == "kb" and item.get("sql")
            and not item["sql"].lstrip().lower().startswith("pragma")]


def raw_connection(db_path: Path) -> sqlite3.Connection:
    """The file opened as Datasette opens it, with the site's own SQL functions (registered by the plugins' hooks)."""
    connection = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)
    regkb_site.prepare_connection(connection)
    thai_search.prepare_connection(connection)
    return connection


def bench_pages(db_path: Path, base: str, requests: int) -> dict:
    results = {}
    connection = raw_connection(db_path)
    with httpx.Client(timeout=60) as client:
        for name, path in PAGES.items():
            # Each request carries a new _bench value, so the response cache never answers: these are first requests.
            separator = "&" if "?" in path else "?"
            for number in range(3):
                client.get(f"{base}{path}{separator}_bench=warm{number}")
            samples, failures = [], set()
            for number in range(requests):
                started = time.perf_counter()
                response = client.get(f"{base}{path}{separator}_bench={number}")
                samples.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.add(f"HTTP {response.status_code}: {response.text[:200]}")
            results[name] = percentiles(samples) | ({"failures": sorted(failures)} if failures else {})
            if name in RAW_COMPARED:
                statements = traced_sql(db_path, path)
                raw = []
                for _ in range(requests):
                    started = time.perf_counter()
                    for sql, params in statements:
                        connection.execute(sql, params).fetchall()
                    raw.append(time.perf_counter() - started)
                results[name]["raw_sql"] = percentiles(raw)
                results[name]["ratio_p50"] = round(results[name]["p50_ms"] / results[name]["raw_sql"]["p50_ms"], 2)
                results[name]["statements"] = len(statements)
    return results


def bench_csv(db_path: Path, base: str) -> dict:
    with httpx.Client(timeout=600) as client:
        started = time.perf_counter()
        size = 0
        chunks = []
        with client.stream("GET", base + "/kb/rules.csv?_stream=on&_size=max") as response:
            for chunk in response.iter_bytes():
                size += len(chunk)
                chunks.append(chunk)
        served_s = time.perf_counter() - started
    rows = sum(1 for _ in csv.reader(io.StringIO(b"".join(chunks).decode("utf-8")))) - 1
    connection = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)
    started = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    cursor = connection.execute("select * from rules")
    writer.writerow([column[0] for column in cursor.description])
    writer.writerows(cursor)
    direct_bytes = len(buffer.getvalue().encode("utf-8"))
    direct_s = time.perf_counter() - started
    expected = connection.execute("select count(*) from rules").fetchone()[0]
    return {"rows": rows, "expected_rows": expected, "complete": rows == expected,
            "served_mb_s": round(size / 1e6 / served_s, 1), "direct_mb_s": round(direct_bytes / 1e6 / direct_s, 1),
            "served_s": round(served_s, 2), "direct_s": round(direct_s, 2),
            "throughput_ratio": round((size / served_s) / (direct_bytes / direct_s), 2)}


def _wrk(base: str, path: str, clients: int, seconds: int) -> list[str]:
    return ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "--latency",
            base + path]


def bench_load(base: str, path: str, seconds: int = 10) -> dict:
    """8 concurrent clients for a bounded time, on loopback, with wrk."""
    return _wrk_figures(subprocess.run(_wrk(base, path, 8, seconds), capture_output=True, text=True,
                                       check=True).stdout)


def bench_mixed_load(base: str, seconds: int = 10) -> dict:
    """8 clients at once for 10 s: 3 on the faceted table, 3 on search, 2 downloading the full CSV."""
    targets = {"rules_facets_json": (PAGES["rules_facets_json"], 3), "search_thai_json": (PAGES["search_thai_json"], 3),
               "csv_export": ("/kb/rules.csv?_stream=on&_size=max", 2)}
    processes = {name: subprocess.Popen(_wrk(base, path, clients, seconds), stdout=subprocess.PIPE, text=True)
                 for name, (path, clients) in targets.items()}
    return {name: _wrk_figures(process.communicate()[0]) for name, process in processes.items()}


def _wrk_figures(output: str) -> dict:
    requests_per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", output)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                                                         r"timeout (\d+)"):
        match = re.search(pattern, output)
        if match:
            errors += sum(int(group) for group in match.groups())
    total = int(re.search(r"(\d+) requests in", output).group(1))
    return {"requests_per_s": requests_per_s, "p99_ms": round(p99_ms, 1), "errors": errors, "requests": total}


def machine() -> dict:
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)
    return {"cores": os.cpu_count(), "memory_gb": round(int(memory) / 1024 / 1024, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "cpu": next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "unknown")}


@click.command()
@click.option("--sizes", default="real,1000,10000,100000", show_default=True,
              help="Comma-separated sizes; 'real' is the project's own data.")
@click.option("--million", is_flag=True, help="Also run 1,000,000 rules (slow: tens of minutes).")
@click.option("--requests", default=30, show_default=True, help="Sequential requests per page.")
@click.option("--parts", default="ingest,pages,load", show_default=True,
              help="Which parts to run: ingest (builds kb.db again), pages (with CSV), load (wrk).")
def main(sizes: str, million: bool, requests: int, parts: str) -> None:
    """Run the benchmarks and write benchmarks/results/<size>.json (parts not run keep their earlier figures)."""
    RESULTS.mkdir(exist_ok=True)
    chosen = sizes.split(",") + (["1000000"] if million else [])
    wanted = set(parts.split(","))
    for size in chosen:
        click.echo(f"== {size}")
        data, db_path = prepare(size)
        earlier = RESULTS / f"{size}.json"
        result = json.loads(earlier.read_text()) if earlier.exists() else {}
        result |= {"size": size, "date": time.strftime("%Y-%m-%d"), "machine": machine()}
        if "ingest" in wanted or not db_path.exists():
            result["ingest"] = bench_ingest(data, db_path)
            click.echo(f"ingest: {result['ingest']}")
        if "pages" in wanted:
            server, base = start_server(db_path, data, workers=1)
            try:
                result["pages"] = bench_pages(db_path, base, requests)
                result["csv"] = bench_csv(db_path, base)
            finally:
                stop_server(server)
        if "load" in wanted:
            server, base = start_server(db_path, data, workers=1)
            try:
                result["load_1_worker"] = bench_load(base, PAGES["rules_facets_json"])
                result["rss_1_worker_mb"] = rss_mb(server)
            finally:
                stop_server(server)
            server, base = start_server(db_path, data, workers=os.cpu_count() or 2)
            try:
                result["load_workers"] = bench_load(base, PAGES["rules_facets_json"])
                result["mixed_load_workers"] = bench_mixed_load(base)
                result["rss_workers_mb"] = rss_mb(server)
            finally:
                stop_server(server)
        earlier.write_text(json.dumps(result, indent=2, ensure_ascii=False))
        click.echo(json.dumps({k: v for k, v in result.items() if k != "pages"}, indent=1))


if __name__ == "__main__":
    main()
