"""The catalogue of bad data files: each is reported by file, record and field, all in one run,
with exit status 1, and kb.db (with its change history) left byte for byte as it was."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml

from .conftest import run_cli

VAT_FILE = "th/th-revenue-code-amendment-53.yml"
OSS_FILE = "pt/pt-lei-47-2020.yml"


def read(data: Path, name: str) -> dict:
    return yaml.safe_load((data / name).read_text(encoding="utf-8"))


def write(data: Path, name: str, content) -> None:
    (data / name).write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")


def rule_case(change: dict | Callable[[dict], None], name: str = VAT_FILE) -> Callable[[Path], str]:
    """Break the first rule of a file; returns "file: record" for the expected message."""
    def mutate(data: Path) -> str:
        content = read(data, name)
        rule = content["rules"][0]
        change(rule) if callable(change) else rule.update(change)
        write(data, name, content)
        return f"{name}: rule '{rule['id']}'"
    return mutate


def source_case(change: dict) -> Callable[[Path], str]:
    return rule_case(lambda rule: rule["sources"][0].update(change))


def instrument_case(change: dict, name: str = VAT_FILE) -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        content = read(data, name)
        content.update(change)
        write(data, name, content)
        return f"{name}: instrument '{content['id']}'"
    return mutate


def raw_file(text: str | bytes, name: str = "th/th-broken.yml") -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        path = data / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return f"{name}: -"
    return mutate


def appended(text: str, name: str = VAT_FILE) -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        with open(data / name, "a", encoding="utf-8") as handle:
            handle.write(text)
        return f"{name}: -"
    return mutate


def duplicate_across_files(data: Path) -> str:
    content = read(data, VAT_FILE)
    content["id"] = "th-zz-copy"
    write(data, "th/th-zz-copy.yml", content)
    return f"th/th-zz-copy.yml: rule '{content['rules'][0]['id']}'"


def duplicate_within_file(data: Path) -> str:
    content = read(data, VAT_FILE)
    content["rules"][1]["id"] = content["rules"][0]["id"]
    write(data, VAT_FILE, content)
    return f"{VAT_FILE}: rule '{content['rules'][0]['id']}'"


def unknown_authority_reference(data: Path) -> str:
    authorities = yaml.safe_load((data / "authorities.yml").read_text(encoding="utf-8"))
    authorities[0]["jurisdiction"] = "XX"
    (data / "authorities.yml").write_text(yaml.safe_dump(authorities, allow_unicode=True), encoding="utf-8")
    return f"authorities.yml: authority '{authorities[0]['id']}'"


def without_usd_rate(data: Path) -> str:
    rates = [rate for rate in yaml.safe_load((data / "fx_rates.yml").read_text(encoding="utf-8"))
             if rate["currency"] != "USD"]
    (data / "fx_rates.yml").write_text(yaml.safe_dump(rates), encoding="utf-8")
    return rule_case({"threshold_amount": 5, "threshold_unit": "USD"})(data)


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))

# name: (mutation returning "file: record", field, words the message must contain)
CASES = {
    "yaml syntax error": (appended("\nnotes: [an unclosed list\n"), "-", "YAML syntax error"),
    "tab in indentation": (raw_file("id: th-x\nrules:\n\t- id: th-y\n"), "-", "YAML syntax error"),
    "empty file": (raw_file(""), "-", "expected a mapping of instrument fields, found an empty file"),
    "list instead of mapping": (raw_file("- id: th-x\n"), "-", "expected a mapping of instrument fields, found list"),
    "non-UTF-8 bytes": (raw_file(b"id: th-x\ntitle_en: caf\xe9\n"), "-", "not valid UTF-8"),
    "alias bomb": (raw_file(BILLION_LAUGHS), "-", "YAML aliases (*name) are not allowed"),
    "very large file": (raw_file("# " + "x" * 2_100_000 + "\n"), "-", "file is larger than"),
    "missing required field": (rule_case(lambda r: r.pop("summary_en")), "summary_en", "Field required"),
    "text where a number is due": (rule_case({"rate_percent": "seven"}), "rate_percent", "valid number"),
    "list where text is due": (rule_case({"title_en": ["a", "b"]}), "title_en", "valid string"),
    "unknown jurisdiction": (instrument_case({"jurisdiction": "ES"}), "jurisdiction", "Input should be"),
    "unknown instrument type": (instrument_case({"instrument_type": "decree"}), "instrument_type", "Input should be"),
    "unknown instrument status": (instrument_case({"status": "alive"}), "status", "Input should be"),
    "unknown domain": (rule_case({"domain": "telecoms"}), "domain", "Input should be"),
    "unknown topic": (rule_case({"topic": "taxes"}), "topic", "Input should be"),
    "unknown service type": (rule_case({"service_type": "radio"}), "service_type", "Input should be"),
    "unknown rule status": (rule_case({"status": "pending"}), "status", "Input should be"),
    "unknown verification": (rule_case({"verification": "checked"}), "verification", "Input should be"),
    "unknown source kind": (source_case({"kind": "blog"}), "sources[1].kind", "Input should be"),
    "unknown currency": (rule_case({"threshold_unit": "XTS"}), "threshold_unit", "Input should be"),
    "unknown period": (rule_case({"threshold_amount": 1, "threshold_unit": "THB", "threshold_period": "decade"}),
                       "threshold_period", "Input should be"),
    "impossible date": (rule_case({"effective_from": "2021-02-30"}), "effective_from", "valid date"),
    "buddhist era year": (rule_case({"effective_from": "2564-02-10"}), "effective_from",
                          "looks like a Buddhist Era year; store the C.E. date (B.E. - 543 = 2021)"),
    "end before start": (rule_case({"effective_from": "2021-09-01", "effective_to": "2021-01-01"}),
                         "effective_to", "is before effective_from"),
    "negative amount": (rule_case({"threshold_amount": -5, "threshold_unit": "THB"}), "threshold_amount",
                        "greater than or equal to 0"),
    "non-finite amount": (rule_case({"threshold_amount": float("inf"), "threshold_unit": "THB"}), "threshold_amount",
                          "finite number"),
    "amount without unit": (rule_case({"threshold_amount": 5, "threshold_unit": None}), "threshold_unit",
                            "go together"),
    "currency without exchange rate": (without_usd_rate, "threshold_unit", "no exchange rate for USD"),
    "duplicate id within a file": (duplicate_within_file, "id", f"duplicate id, also in {VAT_FILE}"),
    "duplicate id across files": (duplicate_across_files, "id", "duplicate id, also in"),
    "unknown instrument": (instrument_case({"transposes": "eu-no-such-act"}, OSS_FILE), "transposes",
                           "'eu-no-such-act' is not an EU instrument"),
    "unknown authority": (instrument_case({"authority_id": "th-nobody"}), "authority_id",
                          "unknown authority 'th-nobody'"),
    "unknown jurisdiction of an authority": (unknown_authority_reference, "jurisdiction", "Input should be"),
    "unknown dimension": (rule_case({"dimension_id": "nowhere"}), "dimension_id", "unknown dimension 'nowhere'"),
    "unknown rule": (rule_case({"superseded_by": "th-no-such-rule"}), "superseded_by",
                     "unknown rule 'th-no-such-rule'"),
    "rule without sources": (rule_case({"sources": []}), "sources", "at least 1 item"),
    "source url not http": (source_case({"url": "javascript:alert(1)"}), "sources[1].url", "must be an http(s) URL"),
    "official rule with only secondary sources": (
        rule_case(lambda r: [r.update(verification="official"), *(s.update(kind="secondary") for s in r["sources"])]),
        "sources", "verification is official but every source is secondary"),
    "derived field written by hand": (rule_case({"jurisdiction": "TH"}), "jurisdiction", "is derived by the ingest"),
    "unknown field": (rule_case({"threshhold_amount": 5}), "threshhold_amount", "Extra inputs are not permitted"),
}


@pytest.fixture(scope="module")
def built_once(tmp_path_factory) -> Path:
    """A kb.db built from the real data, with a change history of two runs, copied into each test."""
    from .conftest import DATA_DIR

    folder = tmp_path_factory.mktemp("bad-input-base")
    db_path = folder / "kb.db"
    for _ in range(2):
        assert run_cli("ingest", "--data", DATA_DIR, "--db", db_path).exit_code == 0
    return db_path


@pytest.fixture
def existing_db(tmp_path, built_once) -> Path:
    db_path = tmp_path / "kb.db"
    shutil.copy(built_once, db_path)
    return db_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_reported_and_kb_db_is_untouched(case, data_copy, existing_db):
    mutate, field, message = CASES[case]
    before = existing_db.read_bytes()
    located = mutate(data_copy)
    result = run_cli("ingest", "--data", data_copy, "--db", existing_db)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(f"error: {located}: {field}: ")]
    assert lines, result.output
    assert any(message in line for line in lines), result.output
    assert existing_db.read_bytes() == before
    assert sorted(path.name for path in existing_db.parent.iterdir()) == ["data", "kb.db"]


def test_every_problem_is_reported_in_one_run(data_copy, existing_db):
    expected = []
    for case in ("text where a number is due", "unknown instrument", "tab in indentation"):
        mutate, field, _ = CASES[case]
        expected.append(f"{mutate(data_copy)}: {field}: ")
    expected.append(f"{rule_case({'dimension_id': 'nowhere'}, OSS_FILE)(data_copy)}: dimension_id: ")
    result = run_cli("check", "--data", data_copy)
    assert result.exit_code == 1
    for line in expected:
        assert line in result.output
    assert "4 problem(s) found" in result.output
