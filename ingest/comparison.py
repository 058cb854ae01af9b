"""Comparison: each question with Thailand's and Portugal's current answers side by side.

One formatter (answer_line, citation) states how a rule reads in an answer;
the comparison table is made from it in plain Python, one row per question.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import ComparisonRow, KnowledgeBase, Rule, RuleJurisdiction, Status

# In an answer, what applies now comes first, then what is coming, then what has ended.
ANSWER_ORDER = {Status.in_force: 0, Status.unconfirmed: 0, Status.adopted: 1, Status.proposed: 2, Status.expired: 3}
CURRENT = {Status.in_force, Status.unconfirmed, Status.adopted, Status.proposed}


def status_mark(rule: Rule) -> str:
    """What a reader must know about a rule's status before its text; empty for a rule plainly in force."""
    if rule.status == Status.in_force:
        return ""
    if rule.status == Status.unconfirmed:
        return f"[unconfirmed after {rule.confirmed_until}] "
    if rule.status == Status.proposed and rule.confirmed_until:
        return f"[proposed; status after {rule.confirmed_until} not found] "
    return f"[{rule.status}{' ' + str(rule.effective_to) if rule.effective_to else ''}] "


def answer_line(rule: Rule) -> str:
    """One line of a country's answer: status mark, title and summary."""
    return f"{status_mark(rule)}{rule.title_en}: {rule.summary_en}"


def citation(instrument_citation: str, provision: str | None) -> str:
    """How a rule is cited: the instrument as lawyers write it, then the provision."""
    return instrument_citation + (f", {provision}" if provision else "")


def is_current(rule: Rule) -> bool:
    """Part of today's answer: in force, unconfirmed, adopted or proposed, or expired with no successor.

    A rule that expired with no successor in the data is the last known state of
    its question and must not vanish from the comparison.
    """
    return rule.status in CURRENT or (rule.status == Status.expired and rule.superseded_by is None)


def _answer_order(rule: Rule) -> tuple:
    return (
        ANSWER_ORDER.get(rule.status, len(ANSWER_ORDER)),
        rule.effective_from is None,
        rule.effective_from or "",
        rule.id,
    )


def answering_rules(rules: Iterable[Rule]) -> list[Rule]:
    """The rules that make up a country's answer to a question, in reading order.

    The current ones when there are any; otherwise every rule, with its status,
    so no answer is blank while the country has a rule on the question.
    """
    rules = list(rules)
    current = [rule for rule in rules if is_current(rule)]
    return sorted(current or rules, key=_answer_order)


def comparison_rows(kb: KnowledgeBase) -> list[ComparisonRow]:
    """One row per comparison question, with each country's current answer, rules and citations."""
    citations = {instrument.id: instrument.citation for instrument in kb.instruments}
    by_question: dict[tuple[str, str], list[Rule]] = {}
    for rule in kb.rules:
        by_question.setdefault((rule.dimension_id, str(rule.jurisdiction)), []).append(rule)
    table = []
    for dimension in kb.dimensions:
        row: dict = {"dimension": dimension.id, "domain": dimension.domain, "question": dimension.question_en}
        for country in RuleJurisdiction:
            answering = answering_rules(by_question.get((dimension.id, str(country)), []))
            cited = [citation(citations[str(rule.instrument_id)], rule.provision) for rule in answering]
            prefix = country.lower()
            row[f"{prefix}_answer"] = "\n".join(answer_line(rule) for rule in answering) or None
            row[f"{prefix}_rules"] = ", ".join(rule.id for rule in answering) or None
            row[f"{prefix}_citations"] = "; ".join(dict.fromkeys(cited)) or None
        table.append(ComparisonRow(**row, sort_order=dimension.sort_order))
    return table
