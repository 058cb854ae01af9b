"""Browser tests: Playwright driving Debian's Chromium against `regkb serve` on 127.0.0.1.

A screenshot of every test is kept in test-artifacts/browser/. These tests never
skip: without /usr/bin/chromium they fail, as CI must install it.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlite_utils
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, DATA_DIR, HOSTILE_ID, SUMMARY, TITLE, screenshot, serve
from .test_escaping import PAGES


@pytest.fixture(scope="module")
def site(built_db):
    with serve(built_db, DATA_DIR) as base:
        yield base

def facet_count(page: Page, value: str) -> int:
    item = page.locator(".facet-info[data-column=jurisdiction] li", has_text=value).first
    return int(item.inner_text().split()[-1].replace(",", ""))


def test_clicking_a_jurisdiction_facet_filters_the_rules(page, site, built_db):
    db = sqlite_utils.Database(built_db)
    total, thai = db["rules"].count, db["rules"].count_where("jurisdiction = 'TH'")
    page.goto(site + "/kb/rules")
    expect(page.locator("h3").first).to_contain_text(f"{total} rows")
    assert facet_count(page, "Thailand") == thai
    page.locator(".facet-info[data-column=jurisdiction] a", has_text="Thailand").click()
    page.wait_for_url("**jurisdiction=TH**")
    expect(page.locator("h3").first).to_contain_text(f"{thai} rows")
    jurisdictions = page.locator("table.rows-and-columns td.col-jurisdiction").all_inner_texts()
    assert len(jurisdictions) == thai
    assert all("TH" in text and "PT" not in text for text in jurisdictions)


def test_the_comparison_shows_both_countries_side_by_side(page, site, built_db):
    page.goto(site + "/kb/comparison")
    headers = [header.strip() for header in page.locator("table.rows-and-columns th").all_inner_texts()]
    assert headers == ["Question", "Thailand", "Portugal (with EU law)"]
    row = page.locator("table.rows-and-columns tbody tr").first
    expect(row.locator("td.col-th_answer")).not_to_be_empty()
    expect(row.locator("td.col-pt_answer")).not_to_be_empty()
    assert page.locator("table.rows-and-columns tbody tr").count() == sqlite_utils.Database(built_db)["comparison"].count


def test_a_csv_download_link_gives_every_row(page, site, built_db):
    page.goto(site + "/")
    link = page.locator("a[href='/kb/rules.csv?_stream=on&_size=max']")
    expect(link).to_be_visible()
    with page.expect_download() as download_info:
        link.click(modifiers=["Alt"])
    content = Path(download_info.value.path()).read_bytes()
    frame = pd.read_csv(io.BytesIO(content), encoding="utf-8")
    db = sqlite_utils.Database(built_db)
    assert len(frame) == db["rules"].count
    assert set(frame["id"]) == {row["id"] for row in db["rules"].rows}


def test_a_rule_page_links_to_its_sources(page, site, built_db):
    db = sqlite_utils.Database(built_db)
    rule = next(db["rules"].rows_where("verification = 'official'", limit=1))
    page.goto(site + f"/kb/rules/{rule['id']}")
    expect(page.locator(".rule-card h1")).to_have_text(rule["title_en"])
    links = page.locator("ol.rule-sources a")
    expected = [source["url"] for source in db["sources"].rows_where("rule_id = ?", [rule["id"]], order_by="id")]
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == expected


def test_the_timeline_picture_shows_both_lanes(page, site):
    page.goto(site + "/")
    picture = page.locator("figure.timeline-figure img")
    expect(picture).to_be_visible()
    page.wait_for_function("document.querySelector('figure.timeline-figure img').naturalWidth > 0")
    svg = httpx.get(site + "/-/timeline.svg").text
    assert "Thailand" in svg and "Portugal" in svg
    page.goto(site + "/kb/timeline")
    expect(page.locator("figure.timeline-figure img")).to_be_visible()


def test_no_script_runs_and_the_text_shows_in_the_browser(hostile, browser):
    db_path, data = hostile
    dialogs = []
    with serve(db_path, data) as base:
        context = browser.new_context()
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path in PAGES:
            page.goto(base + path)
            page.mouse.move(10, 10)
        page.goto(base + f"/kb/rules/{HOSTILE_ID}")
        expect(page.locator(".rule-card h1")).to_have_text(TITLE)
        expect(page.locator(".rule-card .summary")).to_have_text(SUMMARY)
        page.hover(".rule-card .notes")
        screenshot(page, db_path.parent / "hostile-rule.png")
        context.close()
    assert dialogs == []


def test_thai_renders_with_the_shipped_font(page, site, kb):
    """Thai text is drawn with the Noto Sans Thai the site ships, whatever fonts the machine has."""
    rule = next(rule for rule in kb.rules if rule.jurisdiction == "TH" and rule.text_native)
    page.goto(site + f"/kb/rules/{rule.id}")
    expect(page.locator(".rule-card .text-native")).to_be_visible()
    loaded = page.evaluate("""async () => {
        const faces = await document.fonts.load("16px 'Noto Sans Thai'", "ภาษี");
        return faces.map(face => face.status);
    }""")
    assert loaded and set(loaded) == {"loaded"}
    assert page.evaluate("document.fonts.check(\"16px 'Noto Sans Thai'\", 'ภาษี')")
    # Listed first (its unicode-range keeps it to Thai): a system font later in the list that claims Thai
    # codepoints but draws empty boxes must never be reached for Thai text, nor in Datasette's own inputs.
    for selector in (".rule-card .text-native", "header"):
        family = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).fontFamily")
        assert family.startswith('"Noto Sans Thai"'), (selector, family)
    page.goto(site + "/kb/rules")
    family = page.evaluate("getComputedStyle(document.querySelector('input[type=search]')).fontFamily")
    assert family.startswith('"Noto Sans Thai"'), family
    font = page.request.get(site + "/static/fonts/noto-sans-thai-thai-400-normal.woff2")
    assert font.status == 200 and font.body()[:4] == b"wOF2"


QUESTION = "/search?q=VAT+registration+threshold+for+foreign+digital+services"  # also lists rules with some words
TABLE_SEARCH = "/kb/rules?_search=balc%C3%A3o+%C3%BAnico"  # points to the relevance-ordered search page
PHONE_PAGES = ["/", "/compare", "/about", "/search?q=VAT", QUESTION, TABLE_SEARCH, "/kb/timeline", "/kb/rules/th-vat-rate-reduced-7pct",
               "/kb/instruments/th-revenue-code", "/kb/in_force_on?date=2024-01-01", "/kb/rules", "/kb/comparison"]


@pytest.mark.parametrize("path", PHONE_PAGES)
def test_no_page_scrolls_sideways_on_a_phone(browser, site, path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        response = page.goto(site + path)
        assert response.status == 200
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390 px"
    finally:
        from .conftest import ARTIFACTS

        screenshot(page, ARTIFACTS / f"phone{path.replace('/', '_').replace('?', '_')}.png")
        context.close()


AXE_PAGES = ["/", "/compare?date=2024-01-01&domain=ecommerce_tax", "/about", "/search?q=VAT", QUESTION, TABLE_SEARCH, "/kb/rules?_size=20", "/kb/rules/th-vat-rate-reduced-7pct",
             "/kb/instruments/th-revenue-code", "/kb/in_force_on", "/kb/compare", "/kb/timeline", "/kb/glossary"]


@pytest.mark.parametrize("width", [1366, 390])
def test_no_serious_accessibility_violation(browser, site, width):
    """axe-core (bundled by axe-playwright-python) finds no serious or critical violation on the site's pages."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    found = {}
    try:
        for path in AXE_PAGES:
            page.goto(site + path)
            screenshot(page, ARTIFACTS / f"w{width}{path.replace('/', '_').replace('?', '_')[:60]}.png")
            violations = axe.run(page).response["violations"]
            serious = [(v["id"], len(v["nodes"])) for v in violations if v["impact"] in ("serious", "critical")]
            if serious:
                found[path] = serious
    finally:
        context.close()
    assert found == {}


# /compare in a real browser (kept here: Playwright's sync API holds an event loop for its whole module, so
# browser tests do not share a module with async tests).
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_compare_reads_at_desktop_and_phone_width(browser, site, width, request):
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    try:
        page.goto(site + "/compare?date=2024-01-01")
        expect(page.locator("h1")).to_have_text("Thailand and Portugal compared, as at 2024-01-01")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"scrolls sideways by {overflow}px at {width} width"
        first = page.locator(".compare-question").first
        headings = first.locator("h3").all_inner_texts()
        assert headings == ["Thailand", "Portugal (with EU law)"]
        if width == "phone":  # stacked: Thailand's block above Portugal's
            th_box, pt_box = (first.locator(f".country-{code}").bounding_box() for code in ("th", "pt"))
            assert th_box["y"] + th_box["height"] <= pt_box["y"] + 1
        badge = page.locator(".rule-line .badge").first
        expect(badge).to_be_visible()
        page.locator(".compare-index a").first.click()
        page.select_option("#compare-domain", "ecommerce_tax")
        page.fill("#compare-date", "2020-01-01")
        page.locator(".compare-form input[type=submit]").click()
        page.wait_for_url("**date=2020-01-01**")
        expect(page.locator("h1")).to_contain_text("2020-01-01")
    finally:
        screenshot(page, ARTIFACTS / f"compare-{width}.png")
        context.close()

