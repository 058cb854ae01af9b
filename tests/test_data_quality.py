"""Data-quality checks on the real rule set: what a researcher relies on when citing it."""

from __future__ import annotations

import pytest

from ingest.models import OFFICIAL_SOURCE_KINDS, Status, in_force_on

ENDED = {Status.repealed, Status.withdrawn, Status.expired, Status.superseded}


def test_the_rule_set_is_large_enough(kb):
    assert len(kb.instruments) >= 25
    assert len(kb.rules) >= 60


def test_every_question_is_answered_for_both_countries(kb):
    answered = {(rule.dimension_id, rule.jurisdiction) for rule in kb.rules}
    missing = [(dimension.id, country) for dimension in kb.dimensions for country in ("TH", "PT")
               if (dimension.id, country) not in answered]
    assert missing == []


def test_every_rule_cites_a_source_and_official_rules_an_official_one(kb):
    for rule in kb.rules:
        assert rule.sources, rule.id
        if rule.verification == "official":
            assert any(source.kind in OFFICIAL_SOURCE_KINDS for source in rule.sources), rule.id


def test_sources_were_read_no_later_than_the_rule_was_verified(kb):
    for rule in kb.rules:
        for source in rule.sources:
            assert source.accessed <= rule.last_verified, (rule.id, source.url)


def test_instrument_dates_are_in_order(kb):
    for instrument in kb.instruments:
        dates = [d for d in (instrument.signed_date, instrument.published_date) if d]
        assert dates == sorted(dates), instrument.id
        if instrument.effective_date and instrument.repealed_date:
            assert instrument.effective_date <= instrument.repealed_date, instrument.id


def test_published_before_effective_unless_the_notes_say_retroactive(kb):
    for instrument in kb.instruments:
        if instrument.published_date and instrument.effective_date \
                and instrument.effective_date < instrument.published_date:
            assert "retroactive" in (instrument.notes or "").lower(), instrument.id


@pytest.mark.parametrize("status", list(Status))
def test_status_agrees_with_the_dates_on_the_day_it_was_verified(kb, status):
    for rule in (rule for rule in kb.rules if rule.status == status):
        day = rule.last_verified.isoformat()
        start = rule.effective_from.isoformat() if rule.effective_from else None
        end = rule.effective_to.isoformat() if rule.effective_to else None
        if status == Status.in_force:
            assert in_force_on(start, end, status, day, day), rule.id
        elif status == Status.adopted:
            assert start and start > day, rule.id
        elif status in ENDED:
            assert end and end < day, rule.id
        elif status == Status.proposed:
            assert start is None or start > day, rule.id


def test_rules_that_end_by_succession_name_their_successor(kb):
    ids = {rule.id for rule in kb.rules}
    for rule in kb.rules:
        if rule.superseded_by:
            assert rule.superseded_by in ids and rule.superseded_by != rule.id, rule.id
