"""Benchmark: ingest at scale, a first build, a rebuild with nothing changed and one after editing one file.

    python -m benchmarks.ingest_scale --rules 100000
    python -m benchmarks.ingest_scale --rules real

Each build runs as `regkb ingest` under /usr/bin/time (wall seconds, peak resident memory of the largest
process). The synthetic set comes from benchmarks/generate.py (the real data plus RULES synthetic rules); the
edited file is one synthetic Thai instrument whose first rule's summary changes. Prints a Markdown table and
writes benchmarks/results/ingest-<rules>.json.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import click
import yaml

from benchmarks.generate import generate
from benchmarks.run import RESULTS, ROOT, WORK, timed_run


def edit_one_file(data: Path) -> str:
    """Change one rule's summary in one instrument file; return the file's name."""
    path = sorted((data / "th").glob("th-synthetic-*.yml"))[0] if list((data / "th").glob("th-synthetic-*")) else (
        data / "th" / "th-revenue-code-amendment-53.yml")
    content = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    content["rules"][0]["summary_en"] += " Edited for the benchmark."
    path.write_text(yaml.dump(content, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=120),
                    encoding="utf-8")
    return path.name


@click.command()
@click.option("--rules", default="100000", show_default=True, help="Synthetic rules to add, or 'real'.")
def main(rules: str) -> None:
    if rules == "real":
        data = WORK / "data-real"
        if data.exists():
            shutil.rmtree(data)
        shutil.copytree(ROOT / "data", data)
    else:
        data = WORK / f"data-{rules}"
        generate(int(rules), data)  # regenerated each time: the edit below must start from the same files
    out = WORK / f"ingest-{rules}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    db_path = out / "kb.db"
    command = [sys.executable, "-m", "ingest", "ingest", "--data", str(data), "--db", str(db_path)]
    first = timed_run(command)
    unchanged = timed_run(command)
    edited = edit_one_file(data)
    one_file = timed_run(command)
    connection = sqlite3.connect(db_path)
    count = connection.execute("select count(*) from rules").fetchone()[0]
    files_read = connection.execute("select files_read from ingest_runs order by id desc limit 1").fetchone()[0]
    connection.close()
    result = {
        "rules": count,
        "first_build": first,
        "rebuild_unchanged": unchanged,
        "rebuild_one_file": one_file | {"edited": edited, "files_read": files_read},
        "rules_per_s": round(count / first["wall_s"]),
        "one_file_share_of_first": round(one_file["wall_s"] / first["wall_s"], 3),
        "db_mb": round(db_path.stat().st_size / 1e6, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ingest-{rules}.json").write_text(json.dumps(result, indent=2))
    print("| rules | first build s (rules/s) | peak MB | unchanged rebuild s | one file edited s (share) | kb.db MB |")
    print("|---|---|---|---|---|---|")
    print(f"| {count} | {first['wall_s']} ({result['rules_per_s']}) | {first['peak_rss_mb']} | "
          f"{unchanged['wall_s']} | {one_file['wall_s']} ({result['one_file_share_of_first']:.0%}) | "
          f"{result['db_mb']} |")


if __name__ == "__main__":
    main()
