"""The published site: Datasette's test client on the built kb.db with metadata.yml, templates and plugins."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time

import pytest
import sqlite_utils
from markupsafe import escape

from ingest.models import TABLE_MODELS
from ingest.publish import METADATA

csv.field_size_limit(sys.maxsize)  # the timeline figure is one long SVG cell


async def get_json(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return response.json()


async def test_rules_facet_by_jurisdiction_shows_both_countries(datasette, built_db):
    data = await get_json(datasette, "/kb/rules.json?_facet=jurisdiction")
    counts = {item["value"]: item["count"] for item in data["facet_results"]["jurisdiction"]["results"]}
    assert set(counts) == {"TH", "PT"}
    assert sum(counts.values()) == sqlite_utils.Database(built_db)["rules"].count


async def test_default_facets_come_from_metadata(datasette):
    data = await get_json(datasette, "/kb/rules.json")
    assert set(data["facet_results"]) == {"jurisdiction", "domain", "topic", "status", "service_type", "authority_id"}
    assert data["suggested_facets"] == []


async def test_foreign_keys_render_labels(datasette, built_db):
    data = await get_json(datasette, "/kb/rules.json?_labels=on&_shape=objects&_size=1")
    row = data["rows"][0]
    db = sqlite_utils.Database(built_db)
    instrument = db["instruments"].get(row["instrument_id"]["value"])
    assert row["instrument_id"]["label"] == instrument["citation"]
    authority = db["authorities"].get(row["authority_id"]["value"])
    assert row["authority_id"]["label"] == authority["label"] and authority["name_en"] in authority["label"]
    assert row["dimension_id"]["label"] == db["dimensions"].get(row["dimension_id"]["value"])["label_en"]


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
async def test_csv_export_returns_every_row(datasette, built_db, table):
    response = await datasette.client.get(f"/kb/{table}.csv?_stream=on&_size=max")
    assert response.status_code == 200
    exported = list(csv.DictReader(io.StringIO(response.text)))
    db = sqlite_utils.Database(built_db)
    assert len(exported) == db[table].count
    assert exported and list(exported[0]) == TABLE_MODELS[table].column_names()


async def test_csv_keeps_thai_and_portuguese_characters(datasette, built_db):
    response = await datasette.client.get("/kb/authorities.csv?_stream=on")
    assert "กรมสรรพากร" in response.text
    assert "Autoridade Tributária e Aduaneira" in response.text


async def test_column_descriptions_come_from_the_models(datasette):
    response = await datasette.client.get("/kb/rules")
    html = response.text
    description = TABLE_MODELS["rules"].model_fields["summary_en"].description
    assert f'data-column-description="{description}"' in html


async def test_a_rule_page_shows_the_rule_and_its_sources(datasette, kb):
    rule = max(kb.rules, key=lambda rule: len(rule.sources))
    response = await datasette.client.get(f"/kb/rules/{rule.id}")
    assert response.status_code == 200
    assert str(escape(rule.title_en)) in response.text
    for source in rule.sources:
        assert f'href="{escape(source.url)}"' in response.text, source.url
        assert str(escape(source.supports)) in response.text


@pytest.mark.parametrize("path", ["/", "/kb", "/kb/rules", "/kb/comparison", "/kb/instruments", "/kb/sources",
                                  "/kb/authorities", "/kb/dimensions", "/kb/jurisdictions", "/kb/fx_rates",
                                  "/kb/comparison.json", "/-/metadata.json"])
async def test_routes_respond(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200, response.text[:300]


def test_datasette_cli_serves_both_countries(built_db):
    """The exact command from the README: plain `datasette --get` against kb.db and metadata.yml."""
    result = subprocess.run(
        [sys.executable, "-m", "datasette", str(built_db), "-m", str(METADATA), "--get",
         "/kb/rules.json?_facet=jurisdiction"],
        capture_output=True, text=True, check=True,
    )
    assert '"value": "TH"' in result.stdout and '"value": "PT"' in result.stdout


async def test_the_stylesheet_is_served_and_linked(datasette):
    assert (await datasette.client.get("/static/regkb.css")).status_code == 200
    assert "/static/regkb.css" in (await datasette.client.get("/")).text


async def test_repeated_reads_are_answered_from_the_response_cache(datasette):
    """A URL is kept from its second request, and answered from memory from its third."""
    path = "/kb/rules.json?_facet=jurisdiction&_facet=topic&_size=4"
    first, second, third = [await datasette.client.get(path) for _ in range(3)]
    assert "x-regkb-cache" not in first.headers and "x-regkb-cache" not in second.headers
    assert third.headers["x-regkb-cache"] == "hit"
    assert third.content == second.content and third.status_code == 200  # the kept copy, timings included


async def test_a_flood_of_one_off_urls_does_not_evict_the_pages_people_use(datasette):
    path = "/kb/rules.json?_size=2&_shape=objects"
    for _ in range(2):
        await datasette.client.get(path)
    for number in range(300):
        junk = await datasette.client.get(f"/kb/rules.json?_size=1&_junk={number}")
        assert junk.status_code == 200
    assert (await datasette.client.get(path)).headers.get("x-regkb-cache") == "hit"


async def test_errors_and_large_exports_are_not_cached(datasette):
    for _ in range(2):
        missing = await datasette.client.get("/kb/no_such_table?cache-test=2")
        assert missing.status_code == 404 and "x-regkb-cache" not in missing.headers
    from plugins.regkb_site import response_cache

    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 2000})

    async def send(message):
        sent.append(message)

    cached = response_cache(app, max_entry_bytes=1000)
    scope = {"type": "http", "method": "GET", "path": "/big", "query_string": b""}
    await cached(scope, None, send)
    await cached(scope, None, send)
    assert all(header != (b"x-regkb-cache", b"hit") for message in sent for header in message.get("headers", []))


@pytest.mark.parametrize("path", ["/kb/rules.csv?_size=3", "/kb/rules?_format=csv&_size=3", "/kb/rules.csv?_stream=on"])
async def test_a_csv_export_is_never_cached(datasette, path):
    """Datasette streams CSV after a 200 and, when the SQL time limit cuts it short, ends it with the error text:
    such a file must never be kept and handed to the next visitor."""
    for _ in range(3):
        response = await datasette.client.get(path)
        assert response.status_code == 200 and "x-regkb-cache" not in response.headers


async def test_an_export_rests_as_long_as_it_worked_and_not_for_its_wait(monkeypatch):
    """An export gives the event loop back in slices: after each EXPORT_WORK_SLICE of work, a rest as long; time
    spent waiting for its turn counts as no work."""
    from plugins import regkb_site

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(seconds):
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(regkb_site.asyncio, "sleep", recorded_sleep)
    monkeypatch.setattr(regkb_site, "EXPORT_WORK_SLICE", 0.05)

    async def send(message):
        pass

    paced = regkb_site.paced_export(send)  # made as the request arrives, as the middleware does
    await real_sleep(0.2)  # then waiting for a slot: must not count as work
    await paced({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(10):  # 10 chunks of 20 ms work: four slices of 50 ms
        time.sleep(0.02)
        await paced({"type": "http.response.body", "body": b"x", "more_body": True})
    await paced({"type": "http.response.body", "body": b"", "more_body": False})
    assert 3 <= len(slept) <= 4 and all(0.05 <= rest < 0.1 for rest in slept), slept

    slept.clear()  # alone (no page being answered), an export never rests
    alone = regkb_site.paced_export(send, lambda: False)
    await alone({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(10):
        time.sleep(0.02)
        await alone({"type": "http.response.body", "body": b"x", "more_body": True})
    assert slept == []


async def test_facets_and_cells_show_labels_not_codes(datasette):
    from ingest.models import VOCABULARIES, vocabulary_terms

    page = (await datasette.client.get("/kb/rules?_facet=status&_facet=domain")).text
    for label in ("In force", "E-commerce tax", "OTT and platform registration", "Thailand"):
        assert label in page, label
    for name, vocabulary in VOCABULARIES.items():
        shown = await get_json(datasette, f"/kb/{name}.json?_shape=array")
        assert sorted(row["id"] for row in shown) == sorted(term.id for term in vocabulary_terms(vocabulary))


async def test_the_about_page_explains_coverage_verification_and_citing(datasette, kb):
    page = (await datasette.client.get("/about")).text
    for coverage in kb.coverage:
        assert str(coverage.complete_from) in page
    for words in ("official", "secondary", "unverified", "unconfirmed after DATE", "How to cite", "_shape=array"):
        assert words in page, words


async def test_a_rule_page_says_how_to_cite_it(datasette, kb, built_db):
    rule = next(rule for rule in kb.rules if rule.status == "unconfirmed")
    page = (await datasette.client.get(f"/kb/rules/{rule.id}")).text
    cite = page[page.index("Cite this rule"):page.index("<h2>Sources</h2>")]
    commit = sqlite_utils.Database(built_db)["ingest_runs"].get(1)["git_commit"]
    assert f"http://localhost/kb/rules/{rule.id}" in cite and str(rule.last_verified) in cite
    assert str(escape(rule.citation)) in cite and (commit is None or commit[:12] in cite)
    assert f"<title>{escape(rule.title_en)} · regkb</title>" in page


@pytest.mark.parametrize("path", ["/", "/compare", "/about", "/search?q=VAT", "/kb/rules", "/kb/rules/th-vat-rate-reduced-7pct"])
async def test_every_page_declares_its_language(datasette, path):
    page = (await datasette.client.get(path)).text
    assert '<html lang="en">' in page


async def test_a_missing_page_says_where_to_go(datasette):
    response = await datasette.client.get("/kb/rules/no-such-rule")
    assert response.status_code == 404
    assert "<title>Not found · regkb</title>" in response.text
    for link in ('href="/compare"', 'href="/search"', 'href="/about"'):
        assert link in response.text


async def test_rule_and_instrument_pages_are_cards_with_one_heading(datasette, kb):
    replaced = next(rule for rule in kb.rules if rule.superseded_by)
    rule_page = (await datasette.client.get(f"/kb/rules/{replaced.id}")).text
    assert rule_page.count("<h1") == 1 and "Replaced by" in rule_page and "Question it answers" in rule_page
    assert "<h2>Lifecycle</h2>" in rule_page and f'datetime="{replaced.effective_from}"' in rule_page
    instrument = next(instrument for instrument in kb.instruments if instrument.rules)
    page = (await datasette.client.get(f"/kb/instruments/{instrument.id}")).text
    assert page.count("<h1") == 1 and "Its rules" in page
    for rule in instrument.rules:
        assert f'href="/kb/rules/{rule.id}"' in page


async def test_the_timeline_carries_its_thai_font_and_a_today_line(datasette):
    import datetime as dt

    response = await datasette.client.get("/-/timeline.svg")
    assert response.status_code == 200
    assert "@font-face" in response.text and "data:font/woff2;base64," in response.text
    assert "font-src data:" in response.headers["content-security-policy"]
    assert f"today {dt.date.today()}" in response.text


async def test_authorities_are_named_with_abbreviation_name_and_country(datasette):
    page = (await datasette.client.get("/kb/rules?authority_id=pt-erc")).text
    assert "ERC · " in page and "(PT)" in page


async def test_the_timeline_cuts_no_label(datasette, built_db):
    """Vega cuts a long label with an ellipsis; every label must be whole (the picture scrolls instead)."""
    svg = (await datasette.client.get("/-/timeline.svg")).text
    assert "…" not in svg
    drawn = {row["citation"] for row in sqlite_utils.Database(built_db).query("select distinct citation from events")}
    simple = [citation for citation in drawn if str(escape(citation)) == citation]
    assert simple and all(citation in svg for citation in simple)
