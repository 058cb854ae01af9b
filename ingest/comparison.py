"""Comparison: each question with Thailand's and Portugal's answers side by side, for a day.

A rule answers on a day when it is in force that day (plugins/regkb_site.py:
in_force_on, the one definition the site's /compare page and queries use too);
rules adopted or proposed but not yet applying are listed apart, as pending.
Each rule reads in an answer as its answer_line (derive.py), stated once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from plugins.regkb_site import in_force_on

from .models import ComparisonRow, KnowledgeBase, Rule, RuleJurisdiction, Status

PENDING = {Status.adopted, Status.proposed}


def status_mark(rule: Rule) -> str:
    """What a reader must know about a rule's status before its text; empty for a rule plainly in force."""
    if rule.status == Status.in_force:
        return ""
    if rule.status == Status.unconfirmed:
        return f"[unconfirmed after {rule.confirmed_until}] "
    if rule.status == Status.proposed:
        return f"[proposed; status after {rule.confirmed_until} not found] " if rule.confirmed_until else "[proposed] "
    if rule.status == Status.adopted and rule.effective_from:
        return f"[adopted; applies from {rule.effective_from}] "
    return f"[{rule.status}{' ' + str(rule.effective_to) if rule.effective_to else ''}] "


def answer_line(rule: Rule) -> str:
    """One line of a country's answer: status mark, title and summary."""
    return f"{status_mark(rule)}{rule.title_en}: {rule.summary_en}"


def applies_on(rule: Rule, day: dt.date) -> bool:
    return in_force_on(
        rule.effective_from.isoformat() if rule.effective_from else None,
        rule.effective_to.isoformat() if rule.effective_to else None,
        rule.status,
        None,
        day.isoformat(),
    )


def is_pending(rule: Rule, day: dt.date) -> bool:
    """Adopted or proposed, and not applying on day."""
    return rule.status in PENDING and not applies_on(rule, day)


def _reading_order(rule: Rule) -> tuple:
    return (rule.effective_from is None, rule.effective_from or dt.date.min, rule.id)


def answering_rules(rules: Iterable[Rule], day: dt.date) -> list[Rule]:
    """The rules that make up a country's answer to a question on day, in reading order."""
    return sorted((rule for rule in rules if applies_on(rule, day)), key=_reading_order)


def comparison_rows(kb: KnowledgeBase, day: dt.date) -> list[ComparisonRow]:
    """One row per comparison question, with each country's answer on day, its rules, citations and pending rules."""
    by_question: dict[tuple[str, str], list[Rule]] = {}
    for rule in kb.rules:
        by_question.setdefault((rule.dimension_id, str(rule.jurisdiction)), []).append(rule)
    table = []
    for dimension in kb.dimensions:
        row: dict = {"dimension": dimension.id, "domain": dimension.domain, "question": dimension.question_en}
        for country in RuleJurisdiction:
            rules = by_question.get((dimension.id, str(country)), [])
            answering = answering_rules(rules, day)
            pending = sorted((rule for rule in rules if is_pending(rule, day)), key=_reading_order)
            prefix = country.lower()
            row[f"{prefix}_answer"] = "\n".join(str(rule.answer_line) for rule in answering) or None
            row[f"{prefix}_rules"] = ", ".join(rule.id for rule in answering) or None
            row[f"{prefix}_citations"] = "; ".join(dict.fromkeys(str(rule.citation) for rule in answering)) or None
            row[f"{prefix}_pending"] = "\n".join(str(rule.answer_line) for rule in pending) or None
        table.append(ComparisonRow(**row, sort_order=dimension.sort_order, as_at=day))
    return table
