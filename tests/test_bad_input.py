"""Bad data files: every problem named by file, record and field, all at once, exit 1, kb.db untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import yaml

from .conftest import run_cli

VAT_FILE = "th/th-revenue-code-amendment-53.yml"
OSS_FILE = "pt/pt-lei-47-2020.yml"


def read(data: Path, name: str) -> dict:
    return yaml.safe_load((data / name).read_text(encoding="utf-8"))


def write(data: Path, name: str, content: dict) -> None:
    (data / name).write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")


def edit_first_rule(name: str, change: Callable[[dict], None]) -> Callable[[Path], str]:
    """A mutation of the first rule of a file; returns the rule's id for the expected message."""
    def mutate(data: Path) -> str:
        content = read(data, name)
        change(content["rules"][0])
        write(data, name, content)
        return f"rule '{content['rules'][0]['id']}'"
    return mutate


def edit_instrument(name: str, change: Callable[[dict], None]) -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        content = read(data, name)
        change(content)
        write(data, name, content)
        return f"instrument '{content['id']}'"
    return mutate


def syntax_error(data: Path) -> str:
    with open(data / VAT_FILE, "a", encoding="utf-8") as handle:
        handle.write("\nnotes: [an unclosed list\n")
    return "-"


def duplicate_across_files(data: Path) -> str:
    content = read(data, VAT_FILE)
    content["id"] = "th-zz-copy"
    write(data, "th/th-zz-copy.yml", content)
    return f"rule '{content['rules'][0]['id']}'"


CASES = {
    "yaml syntax error": (VAT_FILE, syntax_error, "-", "YAML syntax error"),
    "missing required field": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.pop("summary_en")),
                               "summary_en", "Field required"),
    "wrong type": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(rate_percent="seven")),
                   "rate_percent", "valid number"),
    "unknown vocabulary value": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(topic="taxes")),
                                 "topic", "Input should be"),
    "impossible date": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(effective_from="2021-02-30")),
                        "effective_from", "valid date"),
    "unknown instrument": (OSS_FILE, edit_instrument(OSS_FILE, lambda i: i.update(transposes="eu-no-such-act")),
                           "transposes", "eu-no-such-act"),
    "unknown authority": (VAT_FILE, edit_instrument(VAT_FILE, lambda i: i.update(authority_id="th-nobody")),
                          "authority_id", "unknown authority 'th-nobody'"),
    "unknown dimension": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(dimension_id="nowhere")),
                          "dimension_id", "unknown dimension 'nowhere'"),
    "unknown rule": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(superseded_by="th-no-such-rule")),
                     "superseded_by", "unknown rule 'th-no-such-rule'"),
    "duplicate id across files": ("th/th-zz-copy.yml", duplicate_across_files, "id", "duplicate id, also in"),
    "derived field written by hand": (VAT_FILE, edit_first_rule(VAT_FILE, lambda r: r.update(jurisdiction="TH")),
                                      "-", "jurisdiction is derived by the ingest"),
}


@pytest.fixture
def existing_db(tmp_path, data_copy) -> Path:
    db_path = tmp_path / "kb.db"
    result = run_cli("ingest", "--data", data_copy, "--db", db_path)
    assert result.exit_code == 0, result.output
    return db_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_reported_and_kb_db_is_untouched(case, data_copy, existing_db):
    file, mutate, field, message = CASES[case]
    before = existing_db.read_bytes()
    record = mutate(data_copy)
    result = run_cli("ingest", "--data", data_copy, "--db", existing_db)
    assert result.exit_code == 1
    assert f"error: {file}: {record}: {field}: " in result.output
    assert message in result.output
    assert existing_db.read_bytes() == before
    assert sorted(path.name for path in existing_db.parent.iterdir()) == [".kb.db.lock", "data", "kb.db"]


def test_every_problem_is_reported_in_one_run(data_copy, existing_db):
    mutations = [CASES["wrong type"], CASES["unknown instrument"]]
    expected = [f"{file}: {mutate(data_copy)}: {field}: " for file, mutate, field, _ in mutations]
    (data_copy / "th" / "th-broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
    expected.append("th/th-broken.yml: -: -: YAML syntax error")
    result = run_cli("check", "--data", data_copy)
    assert result.exit_code == 1
    for line in expected:
        assert line in result.output
    assert "3 problem(s) found" in result.output
