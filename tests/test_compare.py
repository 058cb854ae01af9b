"""The citable comparison: /compare for any date, its exports, and its agreement with the comparison table."""

from __future__ import annotations

import datetime as dt
import io
import re
import urllib.parse

import pandas as pd
import pytest

THAI_ESERVICE_VAT = "th-eservice-vat-scope"  # applies from 2021-09-01
EU_ONE_STOP_SHOP = "pt-oss-ioss-special-schemes"  # applies from 2021-07-01


def rule_ids_on(html: str) -> set[str]:
    return set(re.findall(r'class="rule-link" href="/kb/rules/([^"]+)"', html))


async def test_compare_before_and_after_the_2021_packages(datasette):
    before = (await datasette.client.get("/compare?date=2020-01-01")).text
    today = (await datasette.client.get("/compare")).text
    assert THAI_ESERVICE_VAT not in rule_ids_on(before) and EU_ONE_STOP_SHOP not in rule_ids_on(before)
    assert {THAI_ESERVICE_VAT, EU_ONE_STOP_SHOP} <= rule_ids_on(today)
    assert "as at 2020-01-01" in before and f"as at {dt.date.today().isoformat()}" in today


async def test_the_page_the_tidy_export_and_the_comparison_table_agree_today(datasette):
    today = dt.date.today().isoformat()
    page = (await datasette.client.get(f"/compare?date={today}")).text
    export = await datasette.client.get(f"/kb/compare_rules.csv?date={today}&domain=&_stream=on&_size=max")
    tidy = pd.read_csv(io.StringIO(export.text), dtype=str).to_dict("records")  # the tidy CSV a researcher downloads
    assert rule_ids_on(page) == {row["rule_id"] for row in tidy}
    for row in tidy:  # every line shows the verification level the export gives
        line = page[page.index(f'href="/kb/rules/{row["rule_id"]}"') - 400:page.index(f'href="/kb/rules/{row["rule_id"]}"')]
        assert f"verification-{row['verification']}" in line, row["rule_id"]
    table = (await datasette.client.get("/kb/comparison.json?_shape=array&_size=max")).json()
    in_table = {rule for row in table for column in ("th_rules", "pt_rules") for rule in (row[column] or "").split(", ")
                if rule}
    assert in_table == {row["rule_id"] for row in tidy}
    assert {row["as_at"] for row in table} == {today}


async def test_a_date_before_the_claimed_coverage_is_shown_with_a_warning(datasette):
    page = (await datasette.client.get("/compare?date=2016-01-01")).text
    assert "claims completeness for Portugal (with EU law) on this domain from 2024-02-17" in page


@pytest.mark.parametrize("path, parameter", [("/compare?date=2021-1-1", "date"), ("/compare?date=01/01/2021", "date"),
                                             ("/compare?date=not-a-date", "date"), ("/compare?domain=tax", "domain")])
async def test_compare_refuses_a_bad_parameter_naming_it(datasette, path, parameter):
    response = await datasette.client.get(path)
    assert response.status_code == 400 and parameter in response.text


async def test_the_excel_csv_opens_with_thai_intact(datasette):
    response = await datasette.client.get("/kb/compare_rules.csv?date=2024-01-01&domain=&_stream=on&_size=max"
                                          "&_bom=1&_dl=1")
    assert response.content.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig")
    assert list(frame.columns)[:4] == ["question", "dimension", "domain", "country"]
    rules = (await datasette.client.get("/kb/rules.csv?_stream=on&_size=max&_bom=1&_dl=1")).content
    native = pd.read_csv(io.BytesIO(rules), encoding="utf-8-sig")["text_native"].dropna()
    assert native.str.contains("ภาษี").any()
    plain = (await datasette.client.get("/kb/rules.csv?_stream=on&_size=max")).content
    assert not plain.startswith(b"\xef\xbb\xbf")  # programs get the file as it is


async def test_the_download_variant_makes_formula_like_cells_inert(datasette):
    """_bom=1&_dl=1 (the site's download links): a cell starting with =, +, - or @ cannot run in a spreadsheet."""
    from plugins.regkb_site import neutralised_csv

    assert neutralised_csv(b'a,b\r\n=HYPERLINK("x"),@SUM(1)\r\n-5,ok\r\n') == (
        b"a,b\r\n\"'=HYPERLINK(\"\"x\"\")\",'@SUM(1)\r\n'-5,ok\r\n")
    url = "/kb.csv?sql=" + urllib.parse.quote("select '=1+1' as formula, '+cmd' as plus, 'plain' as text")
    download = (await datasette.client.get(url + "&_bom=1&_dl=1")).content
    assert download.startswith(b"\xef\xbb\xbf") and b"'=1+1" in download and b"'+cmd" in download
    plain = (await datasette.client.get(url)).content
    assert b"=1+1" in plain and b"'=1+1" not in plain
