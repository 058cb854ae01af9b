"""A hostile rule (HTML and script in its text) is shown as text everywhere; the site stays read-only.

The same hostile rule is checked in a real browser in test_browser.py.
"""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from ingest.publish import datasette_command, make_datasette

from .conftest import DATA_DIR, HOSTILE_ID, serve

PAGES = ["/", f"/kb/rules/{HOSTILE_ID}", "/kb/rules?jurisdiction=TH", "/kb/comparison",
         "/kb/compare?date=&domain=", "/kb/in_force_on?date=", "/kb/thresholds_eur", "/kb/timeline",
         "/kb/recent_changes", "/kb/search?q=hostile", "/kb/rules?_search=hostile"]


@pytest.mark.parametrize("path", PAGES)
async def test_hostile_text_is_escaped_in_html(hostile, path):
    datasette = make_datasette(hostile[0])
    response = await datasette.client.get(path)
    assert response.status_code == 200
    for raw in ("<script>alert", "<img src=x onerror", "<b onmouseover"):
        assert raw not in response.text, (path, raw)


async def test_hostile_text_is_escaped_in_the_timeline_svg(hostile):
    datasette = make_datasette(hostile[0])
    response = await datasette.client.get("/-/timeline.svg")
    assert "<script" not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_sql_that_writes_is_refused(datasette, built_db):
    before = built_db.read_bytes()
    for sql in ("delete from rules", "update rules set status = 'repealed'", "drop table rules",
                "insert into changes (id) values (999999)", "pragma writable_schema = 1",
                "attach database '/tmp/evil.db' as evil"):
        response = await datasette.client.get(f"/kb.json?sql={urllib.parse.quote(sql)}")
        assert response.status_code in (400, 403), sql
    response = await datasette.client.post("/kb/rules/-/insert", json={"row": {"id": "x"}})
    assert response.status_code in (403, 404, 405)
    assert built_db.read_bytes() == before


async def test_arbitrary_sql_is_bounded_by_a_time_limit(built_db):
    """The served limit is 3 s; the same mechanism is shown here with a 100 ms limit, to keep the suite quick."""
    datasette = make_datasette(built_db, sql_time_limit_ms=100)
    endless = ("with recursive n(i) as (select 1 union all select i + 1 from n) "
               "select count(*) from n")
    response = await datasette.client.get(f"/kb.json?sql={urllib.parse.quote(endless)}")
    assert response.status_code == 400
    assert "interrupted" in response.text.lower() or "time limit" in response.text.lower()


def test_the_site_listens_on_loopback_unless_asked(tmp_path):
    command = datasette_command(tmp_path / "kb.db", host="127.0.0.1", port=8001)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    from ingest.cli import serve as serve_command

    host_option = next(option for option in serve_command.params if option.name == "host")
    assert host_option.default == "127.0.0.1"
    assert "-i" in command  # immutable: Datasette opens the file read-only


def test_the_served_site_refuses_writes_over_http(built_db):
    with serve(built_db, DATA_DIR) as base:
        before = built_db.read_bytes()
        response = httpx.get(base + "/kb.json", params={"sql": "delete from rules"})
        assert response.status_code == 400
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = httpx.request(method, base + "/kb/rules", data={"id": "x"})
            assert response.status_code == 405, method
        assert built_db.read_bytes() == before
