"""Timeline: the dated events of every instrument and rule, for the timeline table and picture."""

from __future__ import annotations

from collections import Counter

from .models import COUNTRY_OF, Event, EventKind, KnowledgeBase


def timeline_events(kb: KnowledgeBase) -> list[Event]:
    """Dated events of every instrument, plus a rule's own start or end where it differs from its instrument's."""
    events = []
    for instrument in kb.instruments:
        counts = Counter(rule.domain for rule in instrument.rules)
        # The instrument's domain: the one most of its rules belong to (ties: alphabetical).
        domain = min(counts, key=lambda d: (-counts[d], d)) if counts else None
        common = {
            "jurisdiction": COUNTRY_OF[instrument.jurisdiction],
            "domain": domain,
            "instrument_id": instrument.id,
            "citation": instrument.citation,
            "status": instrument.status,
        }
        for kind, day in (
            (EventKind.signed, instrument.signed_date),
            (EventKind.published, instrument.published_date),
            (EventKind.effective, instrument.effective_date),
            (EventKind.ended, instrument.repealed_date),
        ):
            if day:
                label = f"{instrument.citation}: {kind}" + (f" ({instrument.status})" if kind == "ended" else "")
                events.append(Event(id=f"{instrument.id}:{kind}", date=day, kind=kind, label=label, **common))
        for rule in instrument.rules:
            for kind, day, own in (
                (EventKind.effective, rule.effective_from, instrument.effective_date),
                (EventKind.ended, rule.effective_to, instrument.repealed_date),
            ):
                if day and day != own:
                    events.append(
                        Event(
                            id=f"{rule.id}:{kind}",
                            date=day,
                            kind=kind,
                            rule_id=rule.id,
                            label=f"{instrument.citation}: {rule.title_en} ({kind})",
                            **(common | {"domain": rule.domain, "status": rule.status}),
                        )
                    )
    return sorted(events, key=lambda event: (event.date, event.id))
