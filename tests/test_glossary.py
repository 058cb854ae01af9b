"""The trilingual glossary and the query expansion it drives, on the real data through the served site."""

from __future__ import annotations

import re
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
    synonyms = {form: ("VAT", "IVA", "value added tax") for form in ("value added tax", "vat", "iva")}
    expression, added = expanded_query("IVA limiar", synonyms)
    assert expression == '(("IVA") OR "VAT" OR "value added tax") AND "limiar"'
    assert added == ["VAT", "value added tax"]
    # the words as typed need not stand together; the other forms are phrases; accents are optional
    two_words = {"balcao unico": ("balcão único", "one-stop shop")}
    assert expanded_query("Balcao unico", two_words)[0] == '(("Balcao" AND "unico") OR "one-stop shop")'
    assert expanded_query("Balcao unico", two_words, mode="typed")[0] == '"Balcao unico"'
    assert expanded_query("IVA limiar", synonyms, mode="any")[0] == '(("IVA") OR "VAT" OR "value added tax") OR "limiar"'
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


def cards(html: str) -> list[str]:
    return html.split('<li class="result-card">')[1:]


async def test_the_search_page_gives_linked_cards_with_what_else_it_searched(datasette):
    response = await datasette.client.get("/search?q=IVA")
    assert response.status_code == 200
    assert "Also searched for (glossary):" in response.text and "VAT" in response.text
    found = cards(response.text)
    assert found and all('class="result-link" href="/kb/' in card for card in found)
    order = {"best match": 0, "strong match": 1, "fair match": 2, "weak match": 3}
    shown = [order[re.search(r'class="relevance">([^<]*)', card).group(1)] for card in found]
    assert shown == sorted(shown)  # most relevant first


async def test_thai_snippets_read_without_segmenter_spaces(datasette):
    html = (await datasette.client.get("/search?q=" + urllib.parse.quote("ภาษีมูลค่าเพิ่ม"))).text
    snippets = [re.sub(r"<[^>]+>", "", card.split('class="snippet">')[1].split("</p>")[0]) for card in cards(html)]
    thai = [snippet for snippet in snippets if re.search("[\u0e00-\u0e7f]", snippet)]
    assert thai and not any(re.search("[\u0e00-\u0e7f] [\u0e00-\u0e7f]", snippet) for snippet in thai)


async def test_the_search_page_refuses_an_overlong_query(datasette):
    response = await datasette.client.get("/search?q=" + "x" * 600)
    assert response.status_code == 400 and "q:" in response.text


@pytest.mark.parametrize("query, first", [
    ("very large online platform", "eu-dsa-vlop-threshold"),
    ("representante legal", "eu-dsa-legal-representative"),
    ("digital services tax", "pt-no-digital-services-tax"),
])
async def test_a_title_match_ranks_first(datasette, query, first):
    """bm25 weights the title above summary, native text and context: the rule named by the query comes first."""
    html = (await datasette.client.get("/search?q=" + urllib.parse.quote(query))).text
    assert re.findall(r'class="result-link" href="/kb/(?:rules|instruments)/([^"]+)"', html)[0] == first
