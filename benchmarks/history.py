"""Benchmark: the git history walk over a long history, first build and rebuild after one more commit.

    python -m benchmarks.history --commits 1000

Makes a throwaway git repository holding a copy of data/ with COMMITS commits (each changes one rule's
summary), then times `regkb ingest` into a fresh kb.db (walks every commit) and again after one more commit
(reuses the walked commits from the previous kb.db and reads one). Prints the figures as a Markdown table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml

REAL_DATA = Path(__file__).resolve().parent.parent / "data"
EDITED = "th/th-revenue-code-amendment-53.yml"


def git(repo: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.org",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.org")
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def commit_edit(repo: Path, number: int) -> None:
    path = repo / "data" / EDITED
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    content["rules"][number % len(content["rules"])]["summary_en"] += f" Edit {number}."
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    git(repo, "commit", "-qam", f"edit {number}")


def timed_ingest(repo: Path, db_path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ingest", "ingest", "--data", str(repo / "data"),
                             "--db", str(db_path)], capture_output=True, text=True, check=True)
    line = next(line for line in result.stdout.splitlines() if line.startswith("history:"))
    return time.perf_counter() - started, line


@click.command()
@click.option("--commits", default=1000, show_default=True, help="Commits of history to make.")
def main(commits: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder)
        shutil.copytree(REAL_DATA, repo / "data")
        git(repo, "init", "-q")
        git(repo, "add", "data")
        git(repo, "commit", "-qm", "add the data")
        for number in range(1, commits):
            commit_edit(repo, number)
        db_path = repo / "kb.db"
        first, first_line = timed_ingest(repo, db_path)
        commit_edit(repo, commits)
        again, again_line = timed_ingest(repo, db_path)
        fresh, _ = timed_ingest(repo, repo / "fresh.db")
        print("| build | seconds | history |")
        print("|---|---|---|")
        print(f"| first build, {commits} commits | {first:.2f} | {first_line} |")
        print(f"| rebuild after 1 more commit | {again:.2f} | {again_line} |")
        print(f"| fresh kb.db, {commits + 1} commits | {fresh:.2f} | (walks everything again) |")


if __name__ == "__main__":
    main()
