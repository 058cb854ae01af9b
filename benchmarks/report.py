"""Render benchmarks/results/*.json as the tables of benchmarks/RESULTS.md (printed; pasted by hand)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ["real", "1000", "10000", "100000", "1000000"]


def main() -> None:
    results = {path.stem: json.loads(path.read_text()) for path in RESULTS.glob("*.json")}
    sizes = [size for size in ORDER if size in results]
    print("| size | rules | first build (s) | rebuild (s) | rules/s | peak RSS (MB) | kb.db (MB) |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        ingest = results[size]["ingest"]
        print(f"| {size} | {ingest['rules']} | {ingest['first_build']['wall_s']} | {ingest['rebuild']['wall_s']} | "
              f"{ingest['rules_per_s']} | {ingest['first_build']['peak_rss_mb']} | {ingest['db_mb']} |")
    print()
    pages = list(results[sizes[0]]["pages"])
    print("| page (p50 / p95 ms; raw SQL p50; ratio) | " + " | ".join(sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for page in pages:
        cells = []
        for size in sizes:
            figures = results[size]["pages"].get(page, {})
            cell = f"{figures.get('p50_ms')} / {figures.get('p95_ms')}"
            if "raw_sql" in figures:
                cell += f"; raw {figures['raw_sql']['p50_ms']}; {figures['ratio_p50']}x"
            if figures.get("failures"):
                cell += " (failed: " + "; ".join(figures["failures"])[:80] + ")"
            cells.append(cell)
        print(f"| {page} | " + " | ".join(cells) + " |")
    print()
    print("| size | CSV rows (complete) | served MB/s | sqlite3+csv MB/s | ratio |")
    print("|---|---|---|---|---|")
    for size in sizes:
        csv = results[size]["csv"]
        print(f"| {size} | {csv['rows']} ({csv['complete']}) | {csv['served_mb_s']} | {csv['direct_mb_s']} | "
              f"{csv['throughput_ratio']} |")
    print()
    print("| size | 1 process: req/s, p99 ms, errors, RSS MB | workers: req/s, p99 ms, errors, RSS MB | "
          "mixed 8 clients (facets / search / CSV): req/s, errors |")
    print("|---|---|---|---|")
    for size in sizes:
        one, many, mixed = (results[size]["load_1_worker"], results[size]["load_workers"],
                            results[size]["mixed_load_workers"])
        mixed_text = " / ".join(f"{m['requests_per_s']}, {m['errors']}" for m in mixed.values())
        print(f"| {size} | {one['requests_per_s']}, {one['p99_ms']}, {one['errors']}, {results[size]['rss_1_worker_mb']} | "
              f"{many['requests_per_s']}, {many['p99_ms']}, {many['errors']}, {results[size]['rss_workers_mb']} | "
              f"{mixed_text} |")


if __name__ == "__main__":
    main()
