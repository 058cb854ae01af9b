"""Benchmark: the /compare page on the real data, uncached, through `regkb serve` on 127.0.0.1.

    python -m benchmarks.compare_page

Each request asks for a different date, so the response cache never answers; 3 warm-up requests, then 30 timed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import httpx

from benchmarks.serving import served_site


def main() -> None:
    with served_site() as (base, _):
        days = [dt.date(2015, 1, 1) + dt.timedelta(days=90 * number) for number in range(33)]
        timings = []
        for number, day in enumerate(days):
            began = time.perf_counter()
            response = httpx.get(f"{base}/compare?date={day}")
            assert response.status_code == 200 and "x-regkb-cache" not in response.headers
            if number >= 3:
                timings.append((time.perf_counter() - began) * 1000)
    quantiles = statistics.quantiles(timings, n=20)
    print(f"/compare, 30 uncached requests: p50 {statistics.median(timings):.1f} ms, p95 {quantiles[18]:.1f} ms")


if __name__ == "__main__":
    main()
