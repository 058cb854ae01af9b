"""Data-quality checks on the real rule set: what a researcher relies on when citing it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from urllib.parse import urlsplit

import sqlite_utils

from ingest.derive import ecb_rate
from ingest.models import ENDED, JurisdictionCode, Status
from plugins.regkb_site import in_force_on

# Issue 11 asks for 80% of Thai and of Portuguese rules with their native words, and 90% of instruments with a
# link to the official text. The 2026-12-01 currency pass reached less (the stored copies of the official texts
# stop after their first pages; docs/currency-review.md lists what is missing). These floors are what the data
# holds now: they stop coverage from slipping back while the targets stay open.
NATIVE_TEXT_FLOOR = {"TH": 0.45, "PT": 0.55}
OFFICIAL_LINK_FLOOR = 0.66


def test_the_rule_set_is_large_enough(kb):
    assert len(kb.instruments) >= 25
    assert len(kb.rules) >= 60


def test_every_question_is_answered_for_both_countries(kb):
    answered = {(rule.dimension_id, rule.jurisdiction) for rule in kb.rules}
    missing = [(dimension.id, country) for dimension in kb.dimensions for country in ("TH", "PT")
               if (dimension.id, country) not in answered]
    assert missing == []


def test_published_before_effective_unless_the_notes_say_retroactive(kb):
    for instrument in kb.instruments:
        if instrument.published_date and instrument.effective_date \
                and instrument.effective_date < instrument.published_date:
            assert "retroactive" in (instrument.notes or "").lower(), instrument.id


def _ended_by_then(rule, day):
    return (rule.effective_to is not None and rule.effective_to < day) or rule.superseded_by is not None


# What each status says about a rule on the day it was last verified; every status has its check.
STATUS_CHECKS = {
    Status.in_force: lambda rule, day: in_force_on(
        rule.effective_from.isoformat(), rule.effective_to and rule.effective_to.isoformat(), rule.status, None,
        day.isoformat()),
    Status.unconfirmed: lambda rule, day: rule.effective_to is None and rule.confirmed_until < day,
    Status.adopted: lambda rule, day: rule.effective_from > day,
    Status.proposed: lambda rule, day: rule.confirmed_until <= day
    and (rule.effective_from is None or rule.effective_from > day),
    Status.rejected: lambda rule, day: rule.effective_from is None or rule.effective_from > day,
    Status.withdrawn: lambda rule, day: rule.effective_to is None or rule.effective_to < day,
    Status.repealed: _ended_by_then,
    Status.superseded: _ended_by_then,
    Status.expired: _ended_by_then,
}


def test_every_status_has_a_check():
    assert set(STATUS_CHECKS) == set(Status)


def test_status_agrees_with_the_dates_on_the_day_it_was_verified(kb):
    disagreeing = [(rule.id, rule.status) for rule in kb.rules
                   if not STATUS_CHECKS[rule.status](rule, rule.last_verified)]
    assert disagreeing == []


def test_the_status_checks_catch_a_wrong_status(kb):
    """The checks above can fail: a rule in force is not 'adopted', an ended one is not 'in force'."""
    rule = next(rule for rule in kb.rules if rule.status == Status.in_force and rule.effective_to is None)
    assert not STATUS_CHECKS[Status.adopted](rule, rule.last_verified)
    ended = next(rule for rule in kb.rules if rule.effective_to and rule.effective_to < rule.last_verified)
    assert not STATUS_CHECKS[Status.in_force](ended, ended.last_verified)


def test_rules_that_end_by_succession_name_their_successor(kb):
    ids = {rule.id for rule in kb.rules}
    for rule in kb.rules:
        if rule.superseded_by:
            assert rule.superseded_by in ids and rule.superseded_by != rule.id, rule.id


def test_no_rule_that_applied_lacks_its_start_date(built_db):
    db = sqlite_utils.Database(built_db)
    undated = [row["id"] for row in db.query(
        "select id from rules where effective_from is null and status not in ('proposed', 'rejected', 'withdrawn')")]
    assert undated == []


def test_no_rule_is_ended_without_an_end_date_or_a_successor(kb):
    unsupported = [rule.id for rule in kb.rules
                   if rule.status in ENDED and rule.effective_to is None and rule.superseded_by is None]
    assert unsupported == []


def test_unconfirmed_rules_say_until_when_they_are_confirmed(kb):
    for rule in kb.rules:
        if rule.status == Status.unconfirmed:
            assert rule.confirmed_until and rule.effective_to is None, rule.id


def test_today_an_unconfirmed_rule_still_answers_and_says_so(kb, built_db):
    """A temporary measure with no news past its last confirmed date is still today's answer, marked as such;
    the rule it would give way to never takes over silently."""
    today = dt.date.today().isoformat()
    comparison = {row["dimension"]: row for row in sqlite_utils.Database(built_db)["comparison"].rows}
    unconfirmed = [rule for rule in kb.rules if rule.status == Status.unconfirmed]
    for rule in unconfirmed:
        assert in_force_on(rule.effective_from.isoformat(), None, rule.status, None, today), rule.id
        answer = comparison[rule.dimension_id][f"{rule.jurisdiction.lower()}_answer"]
        assert f"[unconfirmed after {rule.confirmed_until}] {rule.title_en}" in answer, rule.id


def native_text_share(kb, country: str) -> float:
    rules = [rule for rule in kb.rules if rule.jurisdiction == country]
    return sum(1 for rule in rules if rule.text_native) / len(rules)


def test_thai_rules_carry_their_thai_words(kb):
    assert native_text_share(kb, "TH") >= NATIVE_TEXT_FLOOR["TH"]


def test_portuguese_rules_carry_their_portuguese_words(kb):
    assert native_text_share(kb, "PT") >= NATIVE_TEXT_FLOOR["PT"]


def test_every_native_text_says_where_it_was_copied_from(kb):
    assert [rule.id for rule in kb.rules if rule.text_native and not rule.text_native_from] == []


# Native titles no stored source gave in the 2026-12-01 pass (docs/currency-review.md); issue 11 keeps them open.
NATIVE_TITLES_NOT_FOUND = {"th-cabinet-mtff-2025", "th-customs-announcement-219-2568",
                           "th-customs-notification-116-2567", "th-customs-notification-191-2561",
                           "th-royal-decree-vat-rate-reduction-2568"}


def test_thai_and_portuguese_instruments_have_their_native_titles(kb):
    untitled = {instrument.id for instrument in kb.instruments
                if instrument.jurisdiction != JurisdictionCode.EU and not instrument.title_native}
    assert untitled <= NATIVE_TITLES_NOT_FOUND


def test_instruments_link_to_their_official_text(kb):
    linked = sum(1 for instrument in kb.instruments if instrument.official_url)
    assert linked / len(kb.instruments) >= OFFICIAL_LINK_FLOOR


def test_one_host_carries_one_source_kind_unless_a_note_says_why(kb):
    kinds: dict[str, set[str]] = defaultdict(set)
    for rule in kb.rules:
        for source in rule.sources:
            if not source.note:
                kinds[urlsplit(source.url).hostname or ""].add(source.kind)
    assert {host: sorted(found) for host, found in kinds.items() if len(found) > 1} == {}


def test_amendments_and_introducing_acts_resolve(built_db):
    db = sqlite_utils.Database(built_db)
    dangling = list(db.query(
        "select instrument_id, amends_id from amendments where amends_id not in (select id from instruments) "
        "or instrument_id not in (select id from instruments)"))
    assert dangling == []
    assert list(db.query("select id from rules where introduced_by is not null "
                         "and introduced_by not in (select id from instruments)")) == []
    assert db["amendments"].count > 0


def test_every_eur_threshold_comes_from_an_ecb_rate_of_its_date(built_db):
    db = sqlite_utils.Database(built_db)
    converted = list(db.query(
        "select rules.id, threshold_amount, threshold_unit, threshold_eur, threshold_fx_date, fx_rates.ecb_rate, "
        "fx_rates.source from rules join fx_rates on fx_rates.currency = rules.threshold_unit "
        "and fx_rates.date = rules.threshold_fx_date"))
    assert converted
    assert db.execute("select count(*) from rules where threshold_eur is not null "
                      "and threshold_unit != 'EUR' and threshold_fx_date is null").fetchone()[0] == 0
    for row in converted:
        quoted = ecb_rate(row["threshold_unit"], dt.date.fromisoformat(row["threshold_fx_date"]))
        assert row["ecb_rate"] == quoted, row["id"]
        assert abs(row["threshold_eur"] - row["threshold_amount"] / quoted) < 0.01, row["id"]
        assert "ecb.europa.eu" in row["source"], row["id"]
