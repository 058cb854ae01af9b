"""The public site under hostile requests: no cache poisoning, clear 400s naming the parameter, bounded work."""

from __future__ import annotations

import urllib.parse

import pytest

from plugins.regkb_site import MAX_SQL_VALUE_BYTES
from plugins.thai_search import MAX_QUERY_CHARACTERS


async def test_a_host_not_configured_is_refused_and_never_reaches_another_visitor(datasette):
    forged = await datasette.client.get("/kb/rules?_size=5", headers={"host": "evil.example"})
    assert forged.status_code == 400 and "host 'evil.example' is not served here" in forged.text
    honest = await datasette.client.get("/kb/rules?_size=5")
    assert honest.status_code == 200
    assert "evil.example" not in honest.text and "evil.example" not in str(honest.headers)


async def test_a_configured_host_is_served_and_cached_apart(built_db, monkeypatch):
    from ingest.publish import make_datasette

    monkeypatch.setenv("REGKB_ALLOWED_HOSTS", "regkb.example.org")
    site = make_datasette(built_db)
    public = await site.client.get("/kb/rules?_size=5", headers={"host": "regkb.example.org"})
    local = await site.client.get("/kb/rules?_size=5")
    assert public.status_code == local.status_code == 200
    assert "regkb.example.org" not in local.text and local.headers.get("x-regkb-cache") != "hit"


async def test_responses_that_set_a_cookie_are_never_replayed(datasette):
    """/-/messages hands each visitor a CSRF token cookie: a cached copy would give everyone the same token."""
    first = await datasette.client.get("/-/messages")
    second = await datasette.client.get("/-/messages")
    assert "ds_csrftoken" in first.headers["set-cookie"]
    assert second.headers.get("x-regkb-cache") != "hit"
    assert second.headers["set-cookie"] != first.headers["set-cookie"]


@pytest.mark.parametrize("path, parameter", [
    ("/kb/rules?_sort=nonexistent", "_sort"),
    ("/kb/rules.json?_sort_desc=nope", "_sort_desc"),
    ("/kb/rules?_in_force_on=2021-1-1", "_in_force_on"),
    ("/kb/compare?date=2021-1-1", "date"),
    ("/kb/compare?date=01/01/2021", "date"),
    ("/kb/in_force_on?date=not-a-date", "date"),
    ("/kb/compare?date=2021-01-01&domain=ecomerce_tax", "domain"),
    ("/kb/rules?jurisdiction=XX", "jurisdiction"),
    ("/kb/rules.json?status=in_forse", "status"),
    ("/kb/instruments?instrument_type=decree", "instrument_type"),
])
async def test_a_bad_parameter_is_a_400_that_names_it(datasette, path, parameter):
    response = await datasette.client.get(path)
    assert response.status_code == 400
    assert parameter in response.text


async def test_pages_carry_security_headers(datasette):
    for path in ("/", "/kb/rules", "/kb/rules.json", "/kb/rules?_sort=nope"):
        response = await datasette.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


async def test_the_database_listing_does_not_reveal_the_files_path(datasette, built_db):
    response = await datasette.client.get("/-/databases.json")
    assert response.status_code == 200
    assert str(built_db.parent) not in response.text and response.json()[0]["name"] == "kb"


async def test_sql_cannot_build_huge_values(datasette):
    sql = f"select length(randomblob({MAX_SQL_VALUE_BYTES * 5}))"
    response = await datasette.client.get(f"/kb.json?sql={urllib.parse.quote(sql)}")
    assert response.status_code == 400 and "too big" in response.text


async def test_a_very_long_thai_search_is_refused_before_segmenting(datasette):
    response = await datasette.client.get(
        "/kb/rules.json?_search=" + urllib.parse.quote("ภาษี" * MAX_QUERY_CHARACTERS))
    assert response.status_code == 400
    short = await datasette.client.get("/kb/rules.json?_search=" + urllib.parse.quote("ภาษี"))
    assert short.status_code == 200


async def test_one_visitor_sql_at_a_time_while_pages_keep_answering(built_db):
    import asyncio

    from ingest.publish import make_datasette

    site = make_datasette(built_db, sql_time_limit_ms=800)
    endless = "/kb.json?sql=" + urllib.parse.quote(
        "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n")
    first, second, page = await asyncio.gather(
        site.client.get(endless), site.client.get(endless + "%20"), site.client.get("/kb/rules.json?_size=1"))
    assert sorted([first.status_code, second.status_code]) == [400, 503]  # one cut at the limit, one turned away
    busy = first if first.status_code == 503 else second
    assert busy.headers["retry-after"] == "3"
    assert page.status_code == 200


def test_the_real_server_refuses_forged_hosts_and_bad_parameters(built_db):
    """The same defences through `regkb serve` on 127.0.0.1, as a visitor meets them."""
    import httpx

    from .conftest import DATA_DIR, serve

    with serve(built_db, DATA_DIR) as base:
        forged = httpx.get(base + "/kb/rules", headers={"host": "evil.example"})
        assert forged.status_code == 400
        bad = httpx.get(base + "/kb/compare?date=2021-1-1")
        assert bad.status_code == 400 and "date" in bad.text
        home = httpx.get(base + "/")
        assert home.status_code == 200 and home.headers["x-content-type-options"] == "nosniff"
        assert "evil.example" not in home.text


def test_half_sent_requests_are_cut_off_and_the_site_keeps_answering(built_db):
    """Connections that send half their headers, or nothing, are closed after --header-timeout; others are served."""
    import socket
    import time

    import httpx

    from .conftest import DATA_DIR, serve

    with serve(built_db, DATA_DIR, "--header-timeout", "1") as base:
        port = int(base.rsplit(":", 1)[1])
        stalled = []
        for number in range(50):
            connection = socket.create_connection(("127.0.0.1", port))
            if number % 2:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the blank line never comes
            connection.settimeout(10)
            stalled.append(connection)
        assert httpx.get(base + "/kb/rules.json?_size=1").status_code == 200  # meanwhile, a real visitor
        started = time.monotonic()
        for connection in stalled:
            assert connection.recv(100) == b""  # closed by the server, with no answer
            connection.close()
        assert time.monotonic() - started < 5
        assert httpx.get(base + "/").status_code == 200
