"""The trilingual glossary and the query expansion it drives, on the real data through the served site."""

from __future__ import annotations

import urllib.parse

import pytest
import sqlite_utils

from plugins.thai_search import expanded_query

GLOSSARY_TARGET = 80


def test_the_glossary_holds_enough_sourced_terms_in_three_languages(kb):
    complete = [term for term in kb.glossary if term.term_th and term.term_pt]
    assert len(complete) >= GLOSSARY_TARGET, f"{len(complete)} terms with all three languages"
    for term in kb.glossary:
        languages = {source.language for source in term.sources}
        assert not term.term_th or "th" in languages, term.id
        assert not term.term_pt or "pt" in languages, term.id


def test_the_glossary_is_a_table_researchers_can_browse(built_db, kb):
    db = sqlite_utils.Database(built_db)
    assert db["glossary"].count == len(kb.glossary)
    assert db["glossary_sources"].count == sum(len(term.sources) for term in kb.glossary)


def test_expansion_widens_each_known_term_and_keeps_the_rest():
    synonyms = {form: ("VAT", "IVA", "value added tax") for form in ("vat", "iva", "value added tax")}
    expression, added = expanded_query("IVA limiar", synonyms)
    assert expression == '("VAT" OR "IVA" OR "value added tax") AND "limiar"'
    assert added == ["VAT", "value added tax"]
    assert expanded_query("relativa", synonyms)[0] == '"relativa"'  # IVA inside a word is not IVA
    assert expanded_query("", synonyms)[0] == '""'


async def search_ids(datasette, query: str) -> list[str]:
    response = await datasette.client.get(
        f"/kb/rules.json?_search={urllib.parse.quote(query)}&_shape=array&_size=max&_col=id")
    assert response.status_code == 200, response.text[:300]
    return [row["id"] for row in response.json()]


@pytest.mark.parametrize("query, expected", [
    ("IVA", "th-vat-rate-reduced-7pct"),        # Portuguese abbreviation finds the Thai VAT rule
    ("ภาษีมูลค่าเพิ่ม", "pt-oss-ioss-special-schemes"),  # Thai term finds the EU one-stop shop
    ("balcão único", "pt-oss-ioss-special-schemes"),
    ("กสทช", "th-ott-no-registration-since-2017-withdrawal"),  # the NBTC's Thai abbreviation
])
async def test_a_query_in_one_language_finds_rules_written_in_another(datasette, query, expected):
    assert expected in await search_ids(datasette, query)


async def test_register_and_registration_find_the_same_rules(datasette):
    assert set(await search_ids(datasette, "register")) == set(await search_ids(datasette, "registration"))
