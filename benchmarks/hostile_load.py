"""Benchmark: the site under hostile load (issue 17), on 127.0.0.1 only, bounded in time.

    python -m benchmarks.hostile_load --seconds 30

For SECONDS: 3 clients send the most expensive SQL they can (an endless recursive query), 3 flood the cache with
unique URLs (a third of them with a forged Host), and 2 readers load the home page, /kb/rules and a Thai search.
Reports the readers' errors and latency percentiles, the server's peak resident memory, and whether any reader
response named the forged host.
"""

from __future__ import annotations

import statistics
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import click
import httpx

from benchmarks.serving import served_site

EXPENSIVE = "/kb.json?sql=" + urllib.parse.quote(
    "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n")
READER_PATHS = ["/", "/kb/rules", "/kb/rules.json?_search=" + urllib.parse.quote("ภาษีมูลค่าเพิ่ม")]
FORGED = "evil.example"


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@click.command()
@click.option("--seconds", default=30, show_default=True)
def main(seconds: int) -> None:
    with served_site() as (base, server):
        deadline = time.monotonic() + seconds
        latencies: list[float] = []
        errors: list[str] = []
        leaks: list[str] = []
        attacker_statuses: dict[int, int] = {}
        peak = [resident_kb(server.pid)]

        def reader() -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                while time.monotonic() < deadline:
                    for path in READER_PATHS:
                        began = time.perf_counter()
                        try:
                            response = client.get(path)
                        except httpx.HTTPError as error:
                            errors.append(f"{path}: {error!r}")
                            continue
                        latencies.append(time.perf_counter() - began)
                        if response.status_code != 200:
                            errors.append(f"{path}: {response.status_code}")
                        if FORGED in response.text or FORGED in str(response.headers):
                            leaks.append(path)

        def attacker(flood: bool) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                number = 0
                while time.monotonic() < deadline:
                    number += 1
                    if flood:
                        headers = {"host": FORGED} if number % 3 == 0 else {}
                        response = client.get(f"/kb/rules?_size=1&junk={uuid.uuid4().hex}", headers=headers)
                    else:
                        response = client.get(EXPENSIVE)
                        time.sleep(0.05)  # bounded: a turned-away client retries at most 20 times a second
                    attacker_statuses[response.status_code] = attacker_statuses.get(response.status_code, 0) + 1

        def sampler() -> None:
            while time.monotonic() < deadline:
                peak[0] = max(peak[0], resident_kb(server.pid))
                time.sleep(0.5)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        threads += [threading.Thread(target=attacker, args=(False,)) for _ in range(3)]
        threads += [threading.Thread(target=attacker, args=(True,)) for _ in range(3)]
        threads.append(threading.Thread(target=sampler))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{seconds} s: readers made {len(latencies)} requests, {len(errors)} errors {errors[:3]}")
    print(f"reader latency p50 {quantiles[49] * 1000:.0f} ms, p99 {quantiles[98] * 1000:.0f} ms")
    print(f"server peak resident memory {peak[0] / 1024:.0f} MB; forged host in reader responses: {len(leaks)}")
    print(f"attackers' answers by status: {dict(sorted(attacker_statuses.items()))}")


if __name__ == "__main__":
    main()
