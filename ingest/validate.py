"""Validate: turn loaded YAML into contract models and check how records refer to each other.

Single records are checked by the models (ingest/models.py). This module adds
what one record cannot know alone: duplicate ids across files, references to
instruments, authorities, dimensions and rules that do not exist, a file in
the wrong country folder, a currency without an exchange rate. Rules inherit
their jurisdiction, origin, instrument and (by default) authority here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .load import LoadedData, LoadedFile
from .models import (
    DERIVED_FIELD_ERROR,
    Authority,
    Currency,
    Dimension,
    FxRate,
    Instrument,
    Jurisdiction,
    Origin,
    Record,
    Rule,
)
from .problems import DataError, Problem


@dataclass
class KnowledgeBase:
    """Every validated record, in a stable order (files sorted, records as written)."""

    jurisdictions: list[Jurisdiction]
    authorities: list[Authority]
    dimensions: list[Dimension]
    fx_rates: list[FxRate]
    instruments: list[Instrument]

    @property
    def rules(self) -> list[Rule]:
        return [rule for instrument in self.instruments for rule in instrument.rules]


def _record_name(kind: str, raw: Any, index: int | None) -> str:
    """Name a record by its id when it has one, else by its position."""
    if isinstance(raw, dict):
        key = raw.get("id", raw.get("code"))
        if isinstance(key, (str, int)):
            return f"{kind} '{key}'"
    return f"{kind} #{index + 1}" if index is not None else kind


def _join_location(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "-"


def _problems_from(error: ValidationError, file: str, raw: Any, kind: str, index: int | None) -> list[Problem]:
    """Translate pydantic's errors into file / record / field problems; a rule's errors name the rule."""
    problems = []
    for detail in error.errors():
        location = tuple(detail["loc"])
        if detail["type"] == DERIVED_FIELD_ERROR:
            location += (detail["ctx"]["field"],)
        record = _record_name(kind, raw, index)
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            rules = raw.get("rules") if isinstance(raw, dict) else None
            rule_raw = rules[location[1]] if isinstance(rules, list) and location[1] < len(rules) else None
            record = _record_name("rule", rule_raw, location[1])
            location = location[2:]
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(Problem(file, record, _join_location(location), message))
    return problems


def _validate_list(loaded: LoadedFile, model: type[Record], kind: str) -> tuple[list[Any], list[Problem]]:
    if not isinstance(loaded.content, list):
        return [], [Problem(loaded.path, "-", "-", "expected a list of records")]
    records, problems = [], []
    for index, raw in enumerate(loaded.content):
        try:
            records.append(model.model_validate(raw))
        except ValidationError as error:
            problems += _problems_from(error, loaded.path, raw, kind, index)
    return records, problems


def _validate_instrument(loaded: LoadedFile) -> tuple[Instrument | None, list[Problem]]:
    if not isinstance(loaded.content, dict):
        found = "an empty file" if loaded.content is None else type(loaded.content).__name__
        return None, [Problem(loaded.path, "-", "-", f"expected a mapping of instrument fields, found {found}")]
    try:
        return Instrument.model_validate(loaded.content), []
    except ValidationError as error:
        return None, _problems_from(error, loaded.path, loaded.content, "instrument", None)


def _duplicates(ids: list[tuple[str, str, str]], kind: str) -> list[Problem]:
    """ids: (file, record id, ...) triples; report every copy after the first."""
    counts = Counter(record_id for _, record_id, _ in ids)
    first_file: dict[str, str] = {}
    problems = []
    for file, record_id, field in ids:
        if counts[record_id] > 1:
            if record_id in first_file:
                problems.append(
                    Problem(file, f"{kind} '{record_id}'", field, f"duplicate id, also in {first_file[record_id]}")
                )
            else:
                first_file[record_id] = file
    return problems


def _check_references(kb: KnowledgeBase, files: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    authorities = {authority.id for authority in kb.authorities}
    dimensions = {dimension.id: dimension for dimension in kb.dimensions}
    instruments = {instrument.id: instrument for instrument in kb.instruments}
    rule_ids = {rule.id for rule in kb.rules}
    currencies = {rate.currency for rate in kb.fx_rates} | {Currency.EUR}
    jurisdictions = {jurisdiction.code for jurisdiction in kb.jurisdictions}

    for authority in kb.authorities:
        if authority.jurisdiction not in jurisdictions:
            problems.append(Problem("authorities.yml", f"authority '{authority.id}'", "jurisdiction",
                                    f"unknown jurisdiction '{authority.jurisdiction}'"))
    for instrument in kb.instruments:
        file, record = files[instrument.id], f"instrument '{instrument.id}'"
        folder = file.split("/")[0]
        if folder != str(instrument.jurisdiction).lower():
            problems.append(Problem(file, record, "jurisdiction",
                                    f"{instrument.jurisdiction} instrument filed under {folder}/"))
        if instrument.authority_id not in authorities:
            problems.append(Problem(file, record, "authority_id", f"unknown authority '{instrument.authority_id}'"))
        if instrument.transposes:
            target = instruments.get(instrument.transposes)
            if target is None or target.jurisdiction != "EU":
                problems.append(Problem(file, record, "transposes",
                                        f"'{instrument.transposes}' is not an EU instrument in data/eu/"))
        for rule in instrument.rules:
            record = f"rule '{rule.id}'"
            if rule.authority_id is not None and rule.authority_id not in authorities:
                problems.append(Problem(file, record, "authority_id", f"unknown authority '{rule.authority_id}'"))
            dimension = dimensions.get(rule.dimension_id)
            if dimension is None:
                problems.append(Problem(file, record, "dimension_id", f"unknown dimension '{rule.dimension_id}'"))
            elif dimension.domain != rule.domain:
                problems.append(Problem(file, record, "domain",
                                        f"'{rule.domain}' but dimension '{dimension.id}' is {dimension.domain}"))
            if rule.superseded_by and rule.superseded_by not in rule_ids:
                problems.append(Problem(file, record, "superseded_by", f"unknown rule '{rule.superseded_by}'"))
            if rule.threshold_unit in Currency.__members__ and rule.threshold_unit not in currencies:
                problems.append(Problem(file, record, "threshold_unit",
                                        f"no exchange rate for {rule.threshold_unit} in fx_rates.yml"))
    return problems


def _resolve_context(kb: KnowledgeBase) -> None:
    """Give each rule and source the context its file implies (the derived fields)."""
    for instrument in kb.instruments:
        for rule in instrument.rules:
            rule.jurisdiction = "PT" if instrument.jurisdiction == "EU" else instrument.jurisdiction
            rule.origin = Origin.eu.value if instrument.jurisdiction == "EU" else Origin.national.value
            rule.instrument_id = instrument.id
            rule.authority_id = rule.authority_id or instrument.authority_id
            for position, source in enumerate(rule.sources, start=1):
                source.id = f"{rule.id}:{position}"
                source.rule_id = rule.id


def validate(loaded: LoadedData) -> KnowledgeBase:
    """Return the knowledge base, or raise DataError listing every problem in every file."""
    problems = list(loaded.problems)
    reference: dict[str, list[Any]] = {}
    for name, model, kind in (
        ("jurisdictions", Jurisdiction, "jurisdiction"),
        ("authorities", Authority, "authority"),
        ("dimensions", Dimension, "dimension"),
        ("fx_rates", FxRate, "fx rate"),
    ):
        records, found = _validate_list(loaded.reference[name], model, kind) if name in loaded.reference else ([], [])
        reference[name] = records
        problems += found

    instruments, files = [], {}
    instrument_ids, rule_ids = [], []
    for loaded_file in loaded.instruments:
        instrument, found = _validate_instrument(loaded_file)
        problems += found
        if instrument is None:
            continue
        instruments.append(instrument)
        files.setdefault(instrument.id, loaded_file.path)
        instrument_ids.append((loaded_file.path, instrument.id, "id"))
        rule_ids += [(loaded_file.path, rule.id, "id") for rule in instrument.rules]

    for name, kind, key in (("authorities", "authority", "id"), ("dimensions", "dimension", "id"),
                            ("jurisdictions", "jurisdiction", "code")):
        problems += _duplicates([(f"{name}.yml", str(getattr(r, key)), key) for r in reference[name]], kind)
    problems += _duplicates(instrument_ids, "instrument")
    problems += _duplicates(rule_ids, "rule")

    kb = KnowledgeBase(
        jurisdictions=reference["jurisdictions"],
        authorities=reference["authorities"],
        dimensions=sorted(reference["dimensions"], key=lambda d: (d.sort_order, d.id)),
        fx_rates=reference["fx_rates"],
        instruments=instruments,
    )
    problems += _check_references(kb, files)
    if problems:
        raise DataError(problems)
    _resolve_context(kb)
    return kb
