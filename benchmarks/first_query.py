"""Benchmark: the first Thai search after the server starts, against the searches after it.

    python -m benchmarks.first_query

Builds kb.db from data/, starts `regkb serve` on a free port of 127.0.0.1, waits until it answers, then times
the first Thai search (uncached: a query never asked before) and ten more distinct Thai searches.
"""

from __future__ import annotations

import statistics
import time
import urllib.parse

import httpx

from benchmarks.serving import served_site

QUERIES = ["ภาษีมูลค่าเพิ่ม", "จดทะเบียน", "แพลตฟอร์มดิจิทัล", "บริการทางอิเล็กทรอนิกส์", "กรมสรรพากร", "อัตรา",
           "ผู้ประกอบการ", "ราชกิจจานุเบกษา", "ศุลกากร", "ค่าธรรมเนียม", "ประกาศ"]


def main() -> None:
    started = time.perf_counter()
    with served_site() as (base, _):
        ready = time.perf_counter() - started  # includes the build of kb.db
        timings = []
        for query in QUERIES:
            url = f"{base}/kb/rules.json?_search={urllib.parse.quote(query)}&_shape=array"
            began = time.perf_counter()
            assert httpx.get(url, timeout=30).status_code == 200
            timings.append((time.perf_counter() - began) * 1000)
    print(f"kb.db built and server ready after {ready:.2f} s")
    print(f"first Thai search: {timings[0]:.1f} ms; next ten: median {statistics.median(timings[1:]):.1f} ms, "
          f"max {max(timings[1:]):.1f} ms")


if __name__ == "__main__":
    main()
