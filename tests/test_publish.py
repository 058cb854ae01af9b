"""The site as `datasette publish` and `datasette package` ship it: Datasette, plugins/requirements.txt, no project.

A virtual environment holding only Datasette (the version pyproject.toml allows) and the plugins' requirements
serves a built kb.db with the README's publish arguments; the same file also works served as site.db.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from .conftest import free_port

PROJECT = Path(__file__).resolve().parent.parent
REQUIREMENTS = PROJECT / "plugins" / "requirements.txt"
# The README's publish arguments, as `datasette serve` takes them.
PUBLISH_ARGUMENTS = ["-m", "metadata.yml", "--template-dir", "templates", "--plugins-dir", "plugins",
                     "--static", "static:static"]
THAI_QUERY = "ภาษีมูลค่าเพิ่ม"


def datasette_requirement() -> str:
    dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(dependency for dependency in dependencies if re.match(r"datasette[<>=]", dependency))


def plugin_requirements() -> list[str]:
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_plugins_import_only_datasette_the_standard_library_and_their_requirements():
    allowed = {"datasette", "__future__"} | {re.split(r"[<>=\[ ]", line)[0].replace("-", "_")
                                            for line in plugin_requirements()}
    for path in (PROJECT / "plugins").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, f"{path.name} imports {name}"


@pytest.fixture(scope="module")
def site_environment(tmp_path_factory) -> Path:
    """A virtualenv with only Datasette and plugins/requirements.txt, kept in the user cache under its contents' hash.

    The hash covers every requirement, so a changed requirement gets a new environment; pip's own cache makes the
    first creation quick after the project's install.
    """
    requirements = [datasette_requirement(), *plugin_requirements()]
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regkb" / f"site-venv-{key}"
    python = cache / "bin" / "python"
    if not (cache / "ready").exists():
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(cache)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        (cache / "ready").write_text("\n".join(requirements), encoding="utf-8")
    outside = tmp_path_factory.mktemp("outside")  # not the project folder, which Python would put on its path
    assert subprocess.run([str(python), "-c", "import ingest"], capture_output=True, cwd=outside).returncode != 0
    return cache


def serve_published(environment: Path, db_path: Path):
    """`datasette serve` from the bare environment, in a folder holding only what the publish command ships."""
    site = db_path.parent
    for folder in ("templates", "plugins", "static"):
        shutil.copytree(PROJECT / folder, site / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "metadata.yml", site / "metadata.yml")
    port = free_port()
    server = subprocess.Popen([str(environment / "bin" / "datasette"), "serve", "-i", db_path.name,
                               *PUBLISH_ARGUMENTS, "--port", str(port)], cwd=site,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={"PATH": os.environ["PATH"]})
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/-/versions.json")
            return server, base
        except httpx.TransportError:
            if server.poll() is not None:
                break
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(server.stdout.read().decode()[-3000:] if server.stdout else "datasette did not start")


@pytest.mark.parametrize("file_name", ["kb.db", "site.db"])
def test_the_published_site_answers_with_datasette_and_its_plugins_alone(tmp_path, built_db, kb, site_environment,
                                                                         file_name):
    db_path = tmp_path / file_name
    shutil.copy(built_db, db_path)
    name = db_path.stem
    server, base = serve_published(site_environment, db_path)
    try:
        home = httpx.get(base + "/")
        assert home.status_code == 200 and f'href="/{name}/comparison"' in home.text
        comparison = httpx.get(f"{base}/{name}/comparison")
        assert comparison.status_code == 200 and "comparison-side-by-side" in comparison.text
        rule = next(rule for rule in kb.rules if rule.status == "unconfirmed")
        page = httpx.get(f"{base}/{name}/rules/{rule.id}")
        assert page.status_code == 200 and "rule-card" in page.text and "Unconfirmed after" in page.text
        found = httpx.get(f"{base}/{name}/rules.json", params={"_search": THAI_QUERY, "_shape": "array",
                                                                "_size": "max"}).json()
        assert "th-vat-rate-reduced-7pct" in {row["id"] for row in found}
        csv_text = httpx.get(f"{base}/{name}/rules.csv?_stream=on&_size=max").text
        assert csv_text.count("\n") > len(kb.rules)  # every rule (multi-line cells add lines)
        described = httpx.get(f"{base}/{name}/rules").text
        assert "data-column-description=" in described
        assert httpx.get(f"{base}/{name}/recent_changes.atom").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
