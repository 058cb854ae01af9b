"""Search in Thai, Portuguese and English through Datasette's own search box (/kb/rules.json?_search=).

Each query lists rules it must find (read off the data files by hand), and every
result set is also checked against an independent oracle: plain string matching
over the same text (substring for Thai, whole words for Latin script, accents
folded). Recall must be 100% on both.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

import pytest
import sqlite_utils
import yaml

from ingest.search_index import searchable_texts

from .conftest import VAT_FILE, edit_data_file, run_cli

QUERIES = {
    # Thai: whole words, compounds typed without spaces, a word inside a compound, punctuation.
    "ภาษี": {"th-eservice-no-input-tax", "th-platform-special-account-reporting"},  # inside ภาษีมูลค่าเพิ่ม, ใบกำกับภาษี
    "ภาษีมูลค่าเพิ่ม": {"th-vat-rate-statutory-10pct"},
    "แพลตฟอร์มดิจิทัล": {"th-dps-notification-duty", "th-dps-large-platform-threshold"},
    "กรมสรรพากร": {"th-eservice-monthly-filing", "th-eservice-vat-threshold"},  # via the authority's Thai name
    "ใบกำกับภาษี": {"th-eservice-no-input-tax"},
    "ศุลกากร": {"th-lvg-duty-waiver-2024", "th-lvg-deminimis-abolished-2026"},
    "คอมพิวเตอร์": {"th-cca-s15-intermediary-liability"},
    "อิเล็กทรอนิกส์": {"th-eservice-vat-scope", "th-dps-scope-definition"},  # inside ทางอิเล็กทรอนิกส์
    "พ.ศ.": {"th-eservice-vat-scope", "th-dps-notification-duty"},
    "ผู้ให้บริการ": {"th-eservice-vat-scope"},
    "พระราชกฤษฎีกา": {"th-dps-notification-duty"},
    # Portuguese: accents optional, phrases, citations, no substring false hits.
    "serviços": {"pt-ltsap-vod-registration-erc", "pt-cinema-vod-investment-obligation"},
    "servicos": {"pt-ltsap-vod-registration-erc", "pt-cinema-vod-investment-obligation"},
    "balcão único": {"pt-oss-ioss-special-schemes"},
    "balcao unico": {"pt-oss-ioss-special-schemes"},
    "IVA": {"pt-eservices-b2c-place-of-supply-rate", "pt-eu-wide-10000-threshold"},
    "audiovisuais a pedido": {"pt-cinema-vod-investment-obligation"},
    "comunicação social": {"pt-dr7-2021-registry-extended-vod-vsp"},
    "Lei 74/2020": {"pt-cinema-svod-levy-1pct", "pt-ltsap-vod-registration-erc"},
    "art. 10.º": {"pt-cinema-svod-levy-1pct"},
    "Código do IVA": {"pt-eservices-b2c-place-of-supply-rate", "pt-vat-rates-mainland"},
    # English: short terms, acronyms, a quoted phrase.
    "VAT": {"th-eservice-vat-threshold", "pt-eu-wide-10000-threshold"},
    "OSS": {"pt-oss-ioss-special-schemes"},
    "EU": {"pt-eu-wide-10000-threshold"},
    "OTT": {"th-ott-no-nbtc-licence"},
    "DAC7": {"pt-dac7-platform-reporting"},
    "ERC": {"pt-ltsap-vod-registration-erc"},
    '"deemed supplier"': {"pt-platform-deemed-supplier-goods"},
    "video-sharing": {"pt-ltsap-vsp-registration-erc"},
    "ANACOM": {"pt-dl20b-2024-anacom-digital-services-coordinator"},
    "Revenue Department": {"th-eservice-monthly-filing"},
}


def fold(text: str) -> str:
    """Lower case, Latin accents removed, Thai marks kept."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn" or "\u0e00" <= c <= "\u0e7f")


def rule_texts(kb) -> dict[str, str]:
    """Each rule's searchable text, its indexed fields joined, for the string-matching oracle."""
    return {rule_id: "\n".join(fields) for rule_id, fields in searchable_texts(kb.authorities, kb.instruments)["rules"]}


def oracle(texts: dict[str, str], query: str) -> set[str]:
    """Rules whose text holds every term: Thai as a substring, Latin as a whole word."""
    terms = [fold(term.strip('"')) for term in re.findall(r'"[^"]+"|\S+', query)]

    def holds(term: str, text: str) -> bool:
        if re.search(r"[a-z0-9]", term):
            return re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text) is not None
        return term in text

    folded = {rule_id: fold(text) for rule_id, text in texts.items()}
    return {rule_id for rule_id, text in folded.items() if all(holds(term, text) for term in terms)}


async def search(datasette, query: str) -> set[str]:
    response = await datasette.client.get(
        f"/kb/rules.json?_search={urllib.parse.quote(query)}&_shape=array&_col=id&_size=max")
    assert response.status_code == 200, (query, response.text[:300])
    return {row["id"] for row in response.json()}


def test_the_query_set_covers_three_languages():
    thai = [q for q in QUERIES if re.search("[\u0e00-\u0e7f]", q)]
    assert len(thai) >= 10 and len(QUERIES) - len(thai) >= 20


@pytest.mark.parametrize("query", list(QUERIES))
async def test_each_query_finds_its_rules(datasette, kb, query):
    found = await search(datasette, query)
    assert QUERIES[query] <= found
    assert oracle(rule_texts(kb), query) <= found


async def test_iva_does_not_match_inside_other_words(datasette, kb):
    """IVA (and, through the glossary, every other form of VAT) is found as a word, never inside 'relativa'."""
    vat = next(term for term in kb.glossary if "IVA" in term.abbreviations_pt)
    forms = [fold(form) for form in vat.forms() if form.isascii()]
    texts = rule_texts(kb)

    def has_a_form(text: str) -> bool:
        return any(re.search(rf"(?<![a-z]){re.escape(form)}(?![a-z])", fold(text)) for form in forms)

    inside_only = {rule_id for rule_id, text in texts.items() if "iva" in fold(text) and not has_a_form(text)}
    assert inside_only, "the data should hold words like 'relativa' for this test to mean anything"
    found = await search(datasette, "IVA")
    assert found and not inside_only & found


async def test_thai_tax_does_not_match_thai_language(datasette):
    """ภาษี (tax) and ภาษา (language) differ only by a vowel mark: the tokenizer must keep it."""
    assert await search(datasette, "ภาษี")
    assert not await search(datasette, "ภาษา") & await search(datasette, "ภาษีมูลค่าเพิ่ม")


@pytest.mark.parametrize("query", ['"unbalanced', "*", "OR", "AND NOT", "(", ")", "-", "art. 10.º n.º 4", "s.77/1(10/1)",
                                   "NEAR(a b)", "พ.ศ. ๒๕๖๔", ":", "^", '""'])
async def test_punctuation_never_breaks_the_search(datasette, query):
    for path in ("/kb/rules", "/kb/rules.json", "/kb/instruments.json"):
        response = await datasette.client.get(f"{path}?_search={urllib.parse.quote(query)}")
        assert response.status_code == 200, (path, query)
    response = await datasette.client.get(f"/kb/search.json?q={urllib.parse.quote(query)}")
    assert response.status_code == 200, query


async def test_instruments_are_searchable_by_citation_and_native_title(datasette, kb):
    instrument = next(i for i in kb.instruments if i.id == "th-revenue-code-amendment-53")
    for query in ("Revenue Code Amendment Act (No. 53)", instrument.title_native):
        response = await datasette.client.get(
            f"/kb/instruments.json?_search={urllib.parse.quote(query)}&_shape=array&_col=id")
        assert instrument.id in {row["id"] for row in response.json()}


async def test_the_home_search_returns_escaped_snippets(datasette):
    response = await datasette.client.get(f"/kb/search?q={urllib.parse.quote('balcão único')}")
    assert response.status_code == 200
    assert "[balcão]" in response.text or "[balcão" in response.text


@pytest.mark.parametrize("query, rule_id", [("กฎ", "th-test-compound"), ("จดทะเบียนภาษีมูลค่าเพิ่ม", "th-test-compound"),
                                            ("กระทรวง", "th-test-compound")])
async def test_short_words_and_compounds_in_a_new_rule(tmp_path, data_copy, query, rule_id):
    """A rule added with Thai text is found by a 2-letter word inside a compound and by a compound without spaces."""
    from ingest.publish import make_datasette

    def add_rule(content):
        rule = dict(content["rules"][0], id=rule_id, text_native="ผู้ประกอบการต้องจดทะเบียนภาษีมูลค่าเพิ่มตามกฎกระทรวง",
                    text_native_from="official_text")
        content["rules"].append(yaml.safe_load(yaml.safe_dump(rule, allow_unicode=True)))

    edit_data_file(data_copy, VAT_FILE, add_rule)
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    assert sqlite_utils.Database(db_path)["rules"].get(rule_id)
    assert rule_id in await search(make_datasette(db_path), query)


async def test_a_rebuild_reuses_unchanged_segmentation_and_redoes_changed_text(tmp_path, data_copy, monkeypatch):
    """Counts the texts sent to the segmenter: a rebuild after one edit segments that one rule's text only."""
    from ingest import parallel, search_index
    from ingest.publish import make_datasette

    segmented: list[int] = []
    real_map = parallel.Workers.map

    def counting_map(workers, function, items, *args):
        if function is search_index.index_fields:
            segmented.append(len(items))
        return real_map(workers, function, items, *args)

    monkeypatch.setattr(parallel.Workers, "map", counting_map)
    db_path = tmp_path / "kb.db"
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    first_build = sum(segmented)
    before = {row["id"]: row for row in sqlite_utils.Database(db_path)["rules_search"].rows}
    assert first_build == len(before) + sqlite_utils.Database(db_path)["instruments"].count
    segmented.clear()
    content = edit_data_file(data_copy, VAT_FILE, lambda content: content["rules"][0].update(
        text_native="ผู้ประกอบการต้องจดทะเบียนภาษีมูลค่าเพิ่มตามกฎกระทรวง", text_native_from="official_text"))
    assert run_cli("ingest", "--data", data_copy, "--db", db_path).exit_code == 0
    assert sum(segmented) == 1
    after = {row["id"]: row for row in sqlite_utils.Database(db_path)["rules_search"].rows}
    changed = content["rules"][0]["id"]
    assert after[changed]["source_hash"] != before[changed]["source_hash"]
    assert "กฎ" in after[changed]["subwords"].split()
    # key_rowid only aligns a row with its rule's rowid, which a file read again gets anew
    assert all(dict(after[key], key_rowid=0) == dict(before[key], key_rowid=0) for key in before if key != changed)
    assert changed in await search(make_datasette(db_path), "กฎ")


async def test_a_question_no_rule_answers_word_for_word_lists_rules_holding_some_of_its_words(datasette):
    """Every word of a search must match, so a question in words of its own finds one rule or none; the page then
    lists, under their own heading, the rules holding any of the words."""
    question = "VAT registration threshold for foreign digital services"
    every_word = await search(datasette, question)
    html = (await datasette.client.get("/search?q=" + urllib.parse.quote(question))).text
    assert len(every_word) < 5
    head, _, partial = html.partition('id="some-words"')
    assert partial and partial.count('class="result-card"') >= 10
    assert "th-eservice-vat-threshold" in partial  # the Thai threshold rule holds VAT, registration, threshold
    one_word = (await datasette.client.get("/search?q=" + urllib.parse.quote("VAT"))).text
    assert 'id="some-words"' not in one_word  # a one-word search has nothing to widen


async def test_table_search_points_to_the_relevance_ordered_search_page(datasette):
    """Datasette's table search cannot order by relevance; the page says so and links the search page."""
    html = (await datasette.client.get("/kb/rules?_search=" + urllib.parse.quote("balcão único"))).text
    assert 'href="/search?q=balc%C3%A3o%20%C3%BAnico"' in html and "in order of relevance" in html
    plain = (await datasette.client.get("/kb/rules")).text
    assert "in order of relevance" not in plain
