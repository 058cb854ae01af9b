"""Validate: turn loaded YAML into contract models and check how records refer to each other.

Single records are checked by the models (ingest/models.py). This module adds
what one record cannot know alone: duplicate ids across files, references that
lead nowhere (driven by the models' own foreign keys), a file in the wrong
country folder, a currency the ECB has no rate for. It only checks; derive.py
fills the computed fields afterwards.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .derive import amendments, ecb_rate
from .load import LoadedData, LoadedFile
from .models import (
    REFERENCE_TABLES,
    TABLE_MODELS,
    Currency,
    FxRate,
    Instrument,
    JurisdictionCode,
    KnowledgeBase,
    Record,
)
from .problems import PROBLEM_CODES, DataError, Problem

# pydantic's own error types, as problem codes; the models' custom errors carry their code as their type.
PYDANTIC_CODES = {"missing": "E-FIELD-MISSING", "extra_forbidden": "E-FIELD-UNKNOWN"}


def record_kind(model: type[Record]) -> str:
    """How a maintainer calls one record of a model: FxRate -> "fx rate"."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()


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
        code = (
            detail["type"] if detail["type"] in PROBLEM_CODES else PYDANTIC_CODES.get(detail["type"], "E-FIELD-INVALID")
        )
        if "field" in detail.get("ctx", {}):
            location += (detail["ctx"]["field"],)
        record = _record_name(kind, raw, index)
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            rules = raw.get("rules") if isinstance(raw, dict) else None
            rule_raw = rules[location[1]] if isinstance(rules, list) and location[1] < len(rules) else None
            record = _record_name("rule", rule_raw, location[1])
            location = location[2:]
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(Problem(file, record, _join_location(location), message, code))
    return problems


def _validate_list(loaded: LoadedFile, model: type[Record], kind: str) -> tuple[list[Any], list[Problem]]:
    if not isinstance(loaded.content, list):
        return [], [Problem(loaded.path, "-", "-", "expected a list of records", "E-FILE-SHAPE")]
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
        return None, [
            Problem(loaded.path, "-", "-", f"expected a mapping of instrument fields, found {found}", "E-FILE-SHAPE")
        ]
    try:
        return Instrument.model_validate(loaded.content), []
    except ValidationError as error:
        return None, _problems_from(error, loaded.path, loaded.content, "instrument", None)


def _duplicates(ids: list[tuple[str, str, str]], kind: str) -> list[Problem]:
    """ids: (file, record id, field) triples; report every copy after the first."""
    counts = Counter(record_id for _, record_id, _ in ids)
    first_file: dict[str, str] = {}
    problems = []
    for file, record_id, field in ids:
        if counts[record_id] > 1:
            if record_id in first_file:
                problems.append(
                    Problem(
                        file,
                        f"{kind} '{record_id}'",
                        field,
                        f"duplicate id, also in {first_file[record_id]}",
                        "E-DUPLICATE-ID",
                    )
                )
            else:
                first_file[record_id] = file
    return problems


def _primary_key(record: Record) -> Any:
    key = type(record).primary_key
    return getattr(record, key) if isinstance(key, str) else tuple(getattr(record, part) for part in key)


def _key_text(record: Record) -> str:
    key = _primary_key(record)
    return " ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _located_records(kb: KnowledgeBase, files: dict[str, str]) -> Iterator[tuple[str, Record, str, str]]:
    """(table, record, file, record name) for every record written in data/, for the reference checks."""
    for table in REFERENCE_TABLES:
        for record in getattr(kb, table):
            yield table, record, f"{table}.yml", f"{record_kind(type(record))} '{_key_text(record)}'"
    for instrument in kb.instruments:
        file = files[instrument.id]
        yield "instruments", instrument, file, f"instrument '{instrument.id}'"
        for rule in instrument.rules:
            yield "rules", rule, file, f"rule '{rule.id}'"
    for amendment in amendments(kb.instruments):
        yield "amendments", amendment, files[amendment.instrument_id], f"instrument '{amendment.instrument_id}'"


def _check_foreign_keys(kb: KnowledgeBase, files: dict[str, str], only_reference: bool = False) -> list[Problem]:
    """Every foreign key the models declare must lead to a record: one generic check, no list kept by hand.

    only_reference limits the check to references into the reference tables, which a part of the files can be
    checked for on its own.
    """
    keys: dict[str, set] = {
        table: {_primary_key(record) for record in getattr(kb, table)} for table in REFERENCE_TABLES
    }
    if not only_reference:
        keys |= {"instruments": {i.id for i in kb.instruments}, "rules": {r.id for r in kb.rules}}
    problems = []
    for table, record, file, name in _located_records(kb, files):
        for column, target, _ in TABLE_MODELS[table].foreign_keys:
            value = getattr(record, column)
            if value is not None and target in keys and value not in keys[target]:
                field = "amends" if table == "amendments" else column
                problems.append(
                    Problem(
                        file, name, field, f"unknown {record_kind(TABLE_MODELS[target])} '{value}'", "E-REF-UNKNOWN"
                    )
                )
    return problems


def _check_meaning(kb: KnowledgeBase, files: dict[str, str]) -> list[Problem]:
    """References that exist but make no sense: wrong folder, transposing a non-EU act, a mismatched domain."""
    problems: list[Problem] = []
    dimensions = {dimension.id: dimension for dimension in kb.dimensions}
    instruments = {instrument.id: instrument for instrument in kb.instruments}
    rated = {rate.currency for rate in kb.fx_rates} | {Currency.EUR}
    for instrument in kb.instruments:
        file, record = files[instrument.id], f"instrument '{instrument.id}'"
        folder = file.split("/")[0]
        if folder != instrument.jurisdiction.lower():
            problems.append(
                Problem(
                    file,
                    record,
                    "jurisdiction",
                    f"{instrument.jurisdiction} instrument filed under {folder}/",
                    "E-REF-WRONG-FOLDER",
                )
            )
        target = instruments.get(instrument.transposes or "")
        if target is not None and target.jurisdiction != JurisdictionCode.EU:
            problems.append(
                Problem(
                    file,
                    record,
                    "transposes",
                    f"'{instrument.transposes}' is not an EU instrument in data/eu/",
                    "E-REF-TRANSPOSES-NOT-EU",
                )
            )
        if instrument.id in instrument.amends:
            problems.append(Problem(file, record, "amends", "an act cannot amend itself", "E-REF-SELF-AMENDMENT"))
        for rule in instrument.rules:
            record = f"rule '{rule.id}'"
            dimension = dimensions.get(rule.dimension_id)
            if dimension is not None and dimension.domain != rule.domain:
                problems.append(
                    Problem(
                        file,
                        record,
                        "domain",
                        f"'{rule.domain}' but dimension '{dimension.id}' is {dimension.domain}",
                        "E-REF-DOMAIN-MISMATCH",
                    )
                )
            if rule.threshold_unit in Currency.__members__ and rule.threshold_unit not in rated:
                problems.append(
                    Problem(
                        file,
                        record,
                        "threshold_unit",
                        f"no exchange rate for {rule.threshold_unit} in fx_rates.yml",
                        "E-FX-NO-RATE",
                    )
                )
    return problems


def validate_reference(loaded: dict[str, LoadedFile]) -> tuple[dict[str, list[Any]], list[Problem]]:
    """The reference tables' records, each table checked on its own (duplicate keys included)."""
    problems: list[Problem] = []
    reference: dict[str, list[Any]] = {}
    for name, model in REFERENCE_TABLES.items():
        records, found = _validate_list(loaded[name], model, record_kind(model)) if name in loaded else ([], [])
        reference[name] = records
        problems += found
        key = model.primary_key if isinstance(model.primary_key, str) else ", ".join(model.primary_key)
        problems += _duplicates([(f"{name}.yml", _key_text(record), key) for record in records], record_kind(model))
    reference["dimensions"] = sorted(reference["dimensions"], key=lambda d: (d.sort_order, d.id))
    problems += _check_ecb_rates(reference["fx_rates"])
    return reference, problems


def _check_ecb_rates(fx_rates: list[FxRate]) -> list[Problem]:
    """Every rate named in fx_rates.yml must be one the ECB quoted."""
    return [
        Problem(
            "fx_rates.yml",
            f"fx rate '{rate.currency} {rate.date}'",
            "date",
            f"the ECB has no {rate.currency} reference rate on {rate.date} (choose a TARGET business day)",
            "E-FX-NO-RATE",
        )
        for rate in fx_rates
        if ecb_rate(rate.currency, rate.date) is None
    ]


def validate_instrument_file(loaded_file: LoadedFile) -> tuple[Instrument | None, list[Problem]]:
    """One instrument file: its fields and rules (the models), and its file name."""
    instrument, problems = _validate_instrument(loaded_file)
    if instrument is not None and Path(loaded_file.path).stem != instrument.id:
        problems.append(
            Problem(
                loaded_file.path,
                f"instrument '{instrument.id}'",
                "id",
                f"the id must be the file name ({Path(loaded_file.path).stem})",
                "E-REF-FILE-NAME",
            )
        )
    return instrument, problems


def check_across_files(kb: KnowledgeBase, files: dict[str, str], instrument_files: list[str]) -> list[Problem]:
    """What no single file can know: ids used twice, references that lead nowhere or make no sense.

    instrument_files lists each instrument's file in kb.instruments order (files maps an id to its first file).
    """
    ids = []
    for instrument, file in zip(kb.instruments, instrument_files, strict=True):
        ids.append((file, instrument.id, "id"))
    for instrument, file in zip(kb.instruments, instrument_files, strict=True):
        ids += [(file, rule.id, "id") for rule in instrument.rules]
    # Rules and instruments share one space of ids: pages, events and the history name records by id alone.
    return _duplicates(ids, "record") + _check_foreign_keys(kb, files) + _check_meaning(kb, files)


def references_to_reference_tables(kb: KnowledgeBase, files: dict[str, str]) -> list[Problem]:
    """The reference-table references of some instrument files, checkable before the other files are read."""
    return _check_foreign_keys(kb, files, only_reference=True)


def validate(loaded: LoadedData) -> KnowledgeBase:
    """Return the knowledge base, or raise DataError listing every problem in every file."""
    reference, problems = validate_reference(loaded.reference)
    problems = list(loaded.problems) + problems
    instruments: list[Instrument] = []
    files: dict[str, str] = {}
    instrument_files: list[str] = []
    for loaded_file in loaded.instruments:
        instrument, found = validate_instrument_file(loaded_file)
        problems += found
        if instrument is None:
            continue
        instruments.append(instrument)
        instrument_files.append(loaded_file.path)
        files.setdefault(instrument.id, loaded_file.path)
    kb = KnowledgeBase(**reference, instruments=instruments)
    problems += check_across_files(kb, files, instrument_files)
    if problems:
        raise DataError(problems)
    return kb
