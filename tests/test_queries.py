"""The canned queries researchers use to compare: by date, by threshold, on a timeline; and complete CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlite_utils
import yaml

from ingest.publish import METADATA

E_SERVICE_VAT = "th-eservice-ves-simplified-registration"
OSS = "pt-oss-ioss-special-schemes"
CANNED = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["kb"]["queries"]


async def rows_of(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def rule_ids(rows, *columns):
    return {rule_id.strip() for row in rows for column in columns for rule_id in (row[column] or "").split(",")}


@pytest.mark.parametrize("day, expected", [("2020-01-01", False), ("", True),
                                           (dt.date.today().isoformat(), True)])
async def test_compare_shows_e_service_vat_and_oss_only_once_in_force(datasette, day, expected):
    rows = await rows_of(datasette, f"/kb/compare.json?date={day}&domain=ecommerce_tax&_shape=array")
    assert {row["domain"] for row in rows} == {"ecommerce_tax"}
    found = rule_ids(rows, "th_rules", "pt_rules")
    assert (E_SERVICE_VAT in found, OSS in found) == (expected, expected)


@pytest.mark.parametrize("day, expected", [("2020-01-01", False), ("", True)])
async def test_in_force_on_lists_both_countries_rules_of_the_day(datasette, day, expected):
    rows = await rows_of(datasette, f"/kb/in_force_on.json?date={day}&_shape=array")
    found = {row["id"] for row in rows}
    assert (E_SERVICE_VAT in found, OSS in found) == (expected, expected)
    if expected:
        assert {row["jurisdiction"] for row in rows} == {"TH", "PT"}


async def test_the_in_force_table_filter_matches_the_canned_query(datasette):
    canned = await rows_of(datasette, "/kb/in_force_on.json?date=2022-06-30&_shape=array")
    table = await rows_of(datasette, "/kb/rules.json?_in_force_on=2022-06-30&_shape=array&_size=max")
    assert {row["id"] for row in canned} == {row["id"] for row in table}


async def test_thresholds_in_eur_cover_every_currency_threshold_with_the_rate_date(datasette, built_db):
    rows = await rows_of(datasette, "/kb/thresholds_eur.json?_shape=array&_size=max")
    db = sqlite_utils.Database(built_db)
    currency_rules = {row["id"] for row in db["rules"].rows_where("threshold_unit in ('THB', 'EUR', 'USD')")}
    assert {row["id"] for row in rows} == currency_rules
    for row in rows:
        assert row["threshold_eur"] is not None
        if row["threshold_unit"] != "EUR":
            assert row["fx_rate_date"] and row["eur_per_unit"] and row["fx_rate_source"].startswith("http")


async def test_the_timeline_is_chronological_and_has_both_countries(datasette):
    rows = await rows_of(datasette, "/kb/timeline.json?_shape=array")
    dates = [row["date"] for row in rows]
    assert dates == sorted(dates)
    assert {row["jurisdiction"] for row in rows} == {"TH", "PT"}


async def test_search_query_returns_rules_and_instruments_with_snippets(datasette):
    rows = await rows_of(datasette, "/kb/search.json?q=OSS&_shape=array")
    assert {row["kind"] for row in rows} >= {"rule"}
    assert all("[" in row["snippet"] for row in rows)


@pytest.mark.parametrize("name", sorted(CANNED))
async def test_every_canned_query_exports_complete_csv(datasette, built_db, name):
    params = "date=2024-01-01&domain=&q=VAT"
    response = await datasette.client.get(f"/kb/{name}.csv?{params}&_size=max")
    assert response.status_code == 200
    exported = list(csv.DictReader(io.StringIO(response.text)))
    data = await rows_of(datasette, f"/kb/{name}.json?{params}&_shape=objects&_size=max")
    assert data["truncated"] is False
    assert len(exported) == len(data["rows"]) > 0
