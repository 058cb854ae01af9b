"""Shared fixtures: the real ingest of the real data/, built once per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from playwright.sync_api import sync_playwright

from ingest.cli import cli
from ingest.derive import derive
from ingest.load import load_data_dir
from ingest.models import KnowledgeBase
from ingest.publish import make_datasette
from ingest.validate import validate

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


VAT_FILE = "th/th-revenue-code-amendment-53.yml"


def edit_data_file(data: Path, name: str, change: Callable[[Any], Any]) -> Any:
    """Load one YAML data file under data/, let change() edit it in place, and write it back; return the content.

    The one way tests alter a data file, so every test writes the same YAML a maintainer would.
    """
    path = data / name
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return content


def rule_in(content: dict, rule_id: str) -> dict:
    """The rule with this id in an instrument file's content."""
    return next(rule for rule in content["rules"] if rule["id"] == rule_id)


def run_cli(*args: str):
    """Invoke the regkb CLI in-process, as a maintainer would from the shell."""
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    knowledge_base = validate(load_data_dir(DATA_DIR))
    derive(knowledge_base)
    return knowledge_base


@pytest.fixture(scope="session")
def built_db(tmp_path_factory) -> Path:
    db_path = tmp_path_factory.mktemp("site") / "kb.db"
    result = run_cli("ingest", "--data", DATA_DIR, "--db", db_path)
    assert result.exit_code == 0, result.output
    return db_path


@pytest.fixture(scope="session")
def datasette(built_db):
    return make_datasette(built_db)


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """A writable copy of the real data folder, for tests that break it on purpose."""
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    return copy


HOSTILE_ID = "th-eservice-vat-threshold"
TITLE = '<script>alert("title")</script>Hostile title'
SUMMARY = '<img src=x onerror=alert("summary")> hostile summary'
NOTES = '<b onmouseover=alert("notes")>bold?</b>'


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """kb.db built twice: real data, then with one rule's text made hostile (so it shows in recent changes too)."""
    folder = tmp_path_factory.mktemp("hostile")
    data = folder / "data"
    shutil.copytree(DATA_DIR, data)
    db_path = folder / "kb.db"
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 0
    edit_data_file(data, VAT_FILE, lambda content: rule_in(content, HOSTILE_ID).update(
        title_en=TITLE, summary_en=SUMMARY, notes=NOTES))
    assert run_cli("ingest", "--data", data, "--db", db_path).exit_code == 0
    return db_path, data


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium() -> None:
    """Install Debian's Chromium when it is missing, so the README's test command is the whole set-up.

    Playwright cannot download its own browser on a machine without general internet access; Debian's
    package comes from the distribution's mirror. Needs root (as on CI); otherwise says what to run.
    """
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=environment, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(db_path: Path, data_dir: Path, *options: str):
    """`regkb serve` in a subprocess on 127.0.0.1, as a maintainer starts it; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ingest", "serve", "--db", str(db_path), "--data", str(data_dir),
         "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/-/versions.json").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        server.kill()
        raise RuntimeError(f"regkb serve did not start: {server.stdout.read().decode()[-2000:]}")
    yield base
    server.terminate()
    server.wait(timeout=10)


def screenshot(page, path: Path) -> None:
    """Keep a picture of the page as a visitor sees it: after its web fonts (Noto Sans Thai) have loaded."""
    page.evaluate("document.fonts.ready.then(() => true)")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)


@pytest.fixture(scope="module")
def browser():
    ensure_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    screenshot(page, ARTIFACTS / f"{request.node.name}.png")
    context.close()
