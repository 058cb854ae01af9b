"""The catalogue of bad data files: each is reported by file, record and field, all in one run,
with exit status 1, and kb.db (with its change history) left byte for byte as it was."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import VAT_FILE, run_cli

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
    return f"th/th-zz-copy.yml: record '{content['rules'][0]['id']}'"


def duplicate_within_file(data: Path) -> str:
    content = read(data, VAT_FILE)
    content["rules"][1]["id"] = content["rules"][0]["id"]
    write(data, VAT_FILE, content)
    return f"{VAT_FILE}: record '{content['rules'][0]['id']}'"


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

def without_folder(folder: str) -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        shutil.rmtree(data / folder)
        return f"{folder}/: -"
    return mutate


def fx_rate_on_a_sunday(data: Path) -> str:
    rates = yaml.safe_load((data / "fx_rates.yml").read_text(encoding="utf-8"))
    rates[0]["date"] = "2026-11-01"
    (data / "fx_rates.yml").write_text(yaml.safe_dump(rates), encoding="utf-8")
    return f"fx_rates.yml: fx rate '{rates[0]['currency']} 2026-11-01'"


def special_file(kind: str) -> Callable[[Path], str]:
    """A file under data/th/ that is not a regular file: a symlink, a folder named x.yml, or a named pipe."""
    def mutate(data: Path) -> str:
        path = data / "th" / f"th-{kind}.yml"
        if kind == "symlink":
            path.symlink_to(data / VAT_FILE)
        elif kind == "folder":
            path.mkdir()
        else:
            os.mkfifo(path)
        return f"th/th-{kind}.yml: -"
    return mutate


def stray(name: str, folder: bool = False) -> Callable[[Path], str]:
    def mutate(data: Path) -> str:
        path = data / name
        if folder:
            path.mkdir(parents=True)
            (path / "draft.yml").write_text("id: th-draft\n", encoding="utf-8")
        else:
            path.write_text("id: th-draft\n", encoding="utf-8")
        return f"{name}{'/' if folder else ''}: -"
    return mutate


def rule_named_like_its_instrument(data: Path) -> str:
    content = read(data, VAT_FILE)
    content["rules"][0]["id"] = content["id"]
    write(data, VAT_FILE, content)
    return f"{VAT_FILE}: record '{content['id']}'"


def duplicate_exchange_rate(data: Path) -> str:
    rates = yaml.safe_load((data / "fx_rates.yml").read_text(encoding="utf-8"))
    rates.append(dict(rates[0]))
    (data / "fx_rates.yml").write_text(yaml.safe_dump(rates), encoding="utf-8")
    return f"fx_rates.yml: fx rate '{rates[0]['currency']} {rates[0]['date']}'"


# name: (mutation returning "file: record", field, the problem code expected there: docs/errors.md)
CASES = {
    "yaml syntax error": (appended("\nnotes: [an unclosed list\n"), "-", "E-YAML-SYNTAX"),
    "tab in indentation": (raw_file("id: th-x\nrules:\n\t- id: th-y\n"), "-", "E-YAML-SYNTAX"),
    "empty file": (raw_file(""), "-", "E-FILE-SHAPE"),
    "list instead of mapping": (raw_file("- id: th-x\n"), "-", "E-FILE-SHAPE"),
    "non-UTF-8 bytes": (raw_file(b"id: th-x\ntitle_en: caf\xe9\n"), "-", "E-FILE-ENCODING"),
    "alias bomb": (raw_file(BILLION_LAUGHS), "-", "E-YAML-ALIAS"),
    "very large file": (raw_file("# " + "x" * 2_100_000 + "\n"), "-", "E-FILE-TOO-LARGE"),
    "key written twice": (appended("\nstatus: in_force\n"), "-", "E-YAML-DUPLICATE-KEY"),
    "second rules list": (appended("\nrules: []\n"), "-", "E-YAML-DUPLICATE-KEY"),
    "escape character in text": (raw_file('id: th-x\nnotes: "clear \\x1b[2J screen"\n'), "-", "E-YAML-CONTROL-CHARACTER"),
    "NUL character in text": (raw_file('id: th-x\nrules:\n  - title_en: "a \\0 b"\n'), "-", "E-YAML-CONTROL-CHARACTER"),
    "country folder missing": (without_folder("th"), "-", "E-FILE-MISSING"),
    "symlink as a data file": (special_file("symlink"), "-", "E-FILE-NOT-REGULAR"),
    "folder named like a data file": (special_file("folder"), "-", "E-FILE-NOT-REGULAR"),
    "named pipe as a data file": (special_file("fifo"), "-", "E-FILE-NOT-REGULAR"),
    "draft in a subfolder": (stray("th/drafts", folder=True), "-", "E-FILE-UNEXPECTED"),
    "upper-case extension": (stray("th/th-draft.YML"), "-", "E-FILE-UNEXPECTED"),
    "unknown country folder": (stray("es", folder=True), "-", "E-FILE-UNEXPECTED"),
    "binary value": (raw_file("id: th-x\nnotes: !!binary aGVsbG8=\n"), "-", "E-YAML-BINARY"),
    "unix timestamp as a date": (rule_case({"effective_from": 1600000000}), "effective_from", "E-FIELD-INVALID"),
    "year 0001": (rule_case({"effective_from": "0001-01-01"}), "effective_from", "E-FIELD-INVALID"),
    "verified in the future": (rule_case({"last_verified": "2099-01-01"}), "last_verified", "E-FIELD-INVALID"),
    "yes as a rate": (rule_case({"rate_percent": True}), "rate_percent", "E-FIELD-INVALID"),
    "superseded by itself": (rule_case(lambda r: r.update(superseded_by=r["id"], status="superseded")),
                             "superseded_by", "E-RULE-SUPERSEDES-ITSELF"),
    "id differs from the file name": (instrument_case({"id": "th-another-name"}), "id", "E-REF-FILE-NAME"),
    "rule id equal to its instrument's": (rule_named_like_its_instrument, "id", "E-DUPLICATE-ID"),
    "duplicate exchange rate": (duplicate_exchange_rate, "currency, date", "E-DUPLICATE-ID"),
    "missing required field": (rule_case(lambda r: r.pop("summary_en")), "summary_en", "E-FIELD-MISSING"),
    "text where a number is due": (rule_case({"rate_percent": "seven"}), "rate_percent", "E-FIELD-INVALID"),
    "list where text is due": (rule_case({"title_en": ["a", "b"]}), "title_en", "E-FIELD-INVALID"),
    "unknown jurisdiction": (instrument_case({"jurisdiction": "ES"}), "jurisdiction", "E-FIELD-INVALID"),
    "unknown instrument type": (instrument_case({"instrument_type": "decree"}), "instrument_type", "E-FIELD-INVALID"),
    "unknown instrument status": (instrument_case({"status": "alive"}), "status", "E-FIELD-INVALID"),
    "unknown domain": (rule_case({"domain": "telecoms"}), "domain", "E-FIELD-INVALID"),
    "unknown topic": (rule_case({"topic": "taxes"}), "topic", "E-FIELD-INVALID"),
    "unknown service type": (rule_case({"service_type": "radio"}), "service_type", "E-FIELD-INVALID"),
    "unknown rule status": (rule_case({"status": "pending"}), "status", "E-FIELD-INVALID"),
    "unknown verification": (rule_case({"verification": "checked"}), "verification", "E-FIELD-INVALID"),
    "unknown source kind": (source_case({"kind": "blog"}), "sources[1].kind", "E-FIELD-INVALID"),
    "unknown currency": (rule_case({"threshold_unit": "XTS", "threshold_amount": 1}), "threshold_unit",
                         "E-FIELD-INVALID"),
    "unknown period": (rule_case({"threshold_amount": 1, "threshold_unit": "THB", "threshold_period": "decade"}),
                       "threshold_period", "E-FIELD-INVALID"),
    "impossible date": (rule_case({"effective_from": "2021-02-30"}), "effective_from", "E-FIELD-INVALID"),
    "buddhist era year": (rule_case({"effective_from": "2564-02-10"}), "effective_from", "E-FIELD-INVALID"),
    "end before start": (rule_case({"effective_from": "2021-09-01", "effective_to": "2021-01-01"}),
                         "effective_to", "E-RULE-ENDS-BEFORE-START"),
    "negative amount": (rule_case({"threshold_amount": -5, "threshold_unit": "THB"}), "threshold_amount",
                        "E-FIELD-INVALID"),
    "non-finite amount": (rule_case({"threshold_amount": float("inf"), "threshold_unit": "THB"}), "threshold_amount",
                          "E-FIELD-INVALID"),
    "amount without unit": (rule_case({"threshold_amount": 5, "threshold_unit": None}), "threshold_unit",
                            "E-RULE-THRESHOLD-PAIR"),
    "in-force rule without a start date": (rule_case(lambda r: r.pop("effective_from")), "effective_from",
                                           "E-RULE-NO-START"),
    "unconfirmed rule without confirmed_until": (rule_case({"status": "unconfirmed"}), "confirmed_until",
                                                 "E-RULE-NO-CONFIRMED-UNTIL"),
    "unconfirmed rule with an end date": (
        rule_case({"status": "unconfirmed", "confirmed_until": "2026-09-30", "effective_to": "2026-09-30"}),
        "effective_to", "E-RULE-UNCONFIRMED-ENDED"),
    "expired with nothing saying so": (rule_case(lambda r: [r.pop("effective_to", None), r.pop("superseded_by", None),
                                                            r.update(status="expired")]),
                                       "status", "E-RULE-ENDED-WITHOUT-SOURCE"),
    "native text without its origin": (rule_case({"text_native": "ข้อความ", "text_native_from": None}),
                                       "text_native_from", "E-RULE-TEXT-NATIVE-FROM"),
    "bill without confirmed_until": (instrument_case({"status": "proposed", "confirmed_until": None}),
                                     "confirmed_until", "E-INSTRUMENT-NO-CONFIRMED-UNTIL"),
    "currency without exchange rate": (without_usd_rate, "threshold_unit", "E-FX-NO-RATE"),
    "exchange rate on a day the ECB did not quote": (fx_rate_on_a_sunday, "date", "E-FX-NO-RATE"),
    "duplicate id within a file": (duplicate_within_file, "id", "E-DUPLICATE-ID"),
    "duplicate id across files": (duplicate_across_files, "id", "E-DUPLICATE-ID"),
    "transposes an unknown act": (instrument_case({"transposes": "eu-no-such-act"}, OSS_FILE), "transposes",
                                  "E-REF-UNKNOWN"),
    "transposes a national act": (instrument_case({"transposes": "pt-codigo-iva"}, OSS_FILE), "transposes",
                                  "E-REF-TRANSPOSES-NOT-EU"),
    "unknown authority": (instrument_case({"authority_id": "th-nobody"}), "authority_id", "E-REF-UNKNOWN"),
    "unknown amended act": (instrument_case({"amends": ["th-no-such-act"]}), "amends", "E-REF-UNKNOWN"),
    "amends itself": (instrument_case({"amends": ["th-revenue-code-amendment-53"]}), "amends",
                      "E-REF-SELF-AMENDMENT"),
    "unknown introducing act": (rule_case({"introduced_by": "th-no-such-act"}), "introduced_by", "E-REF-UNKNOWN"),
    "unknown jurisdiction of an authority": (unknown_authority_reference, "jurisdiction", "E-FIELD-INVALID"),
    "unknown dimension": (rule_case({"dimension_id": "nowhere"}), "dimension_id", "E-REF-UNKNOWN"),
    "domain differs from the question's": (rule_case({"domain": "ott_registration"}), "domain",
                                           "E-REF-DOMAIN-MISMATCH"),
    "unknown rule": (rule_case({"superseded_by": "th-no-such-rule"}), "superseded_by", "E-REF-UNKNOWN"),
    "instrument in the wrong folder": (instrument_case({"jurisdiction": "PT"}), "jurisdiction", "E-REF-WRONG-FOLDER"),
    "rule without sources": (rule_case({"sources": []}), "sources", "E-FIELD-INVALID"),
    "source url not http": (source_case({"url": "javascript:alert(1)"}), "sources[1].url", "E-FIELD-INVALID"),
    "official rule with only secondary sources": (
        rule_case(lambda r: [r.update(verification="official"), *(s.update(kind="secondary") for s in r["sources"])]),
        "verification", "E-RULE-OFFICIAL-WITHOUT-SOURCE"),
    "derived field written by hand": (rule_case({"jurisdiction": "TH"}), "jurisdiction", "E-FIELD-DERIVED"),
    "unknown field": (rule_case({"threshhold_amount": 5}), "threshhold_amount", "E-FIELD-UNKNOWN"),
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
    mutate, field, code = CASES[case]
    before = existing_db.read_bytes()
    located = mutate(data_copy)
    result = run_cli("ingest", "--data", data_copy, "--db", existing_db)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(f"error: {located}: {field}: ")]
    assert lines, result.output
    assert any(line.endswith(f"[{code}]") for line in lines), result.output
    assert existing_db.read_bytes() == before
    # Nothing left beside kb.db but the (empty) lock file the ingest holds while it reads the old kb.db.
    left = sorted(path.name for path in existing_db.parent.iterdir())
    assert [name for name in left if name != ".kb.db.lock"] == ["data", "kb.db"]
    assert not (existing_db.parent / ".kb.db.lock").exists() or (existing_db.parent / ".kb.db.lock").stat().st_size == 0


def test_every_problem_code_is_documented_and_tested():
    from ingest.problems import PROBLEM_CODES, errors_markdown

    documented = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    assert documented == errors_markdown(), "docs/errors.md is stale: run `regkb schema`"
    untested = set(PROBLEM_CODES) - {code for _, _, code in CASES.values()} - {"E-INSTRUMENT-PUBLISHED-BEFORE-SIGNED",
                                                                                  "E-INSTRUMENT-REPEALED-BEFORE-EFFECT"}
    assert untested == set()


@pytest.mark.parametrize("dates, code", [({"signed_date": "2021-02-10", "published_date": "2021-02-09"},
                                          "E-INSTRUMENT-PUBLISHED-BEFORE-SIGNED"),
                                         ({"effective_date": "2021-09-01", "repealed_date": "2021-08-31"},
                                          "E-INSTRUMENT-REPEALED-BEFORE-EFFECT")])
def test_instrument_dates_out_of_order_are_refused(data_copy, dates, code):
    instrument_case(dates)(data_copy)
    result = run_cli("check", "--data", data_copy)
    assert result.exit_code == 1
    assert f"[{code}]" in result.output


def test_every_problem_is_reported_in_one_run(data_copy, existing_db):
    expected = []
    for case in ("text where a number is due", "transposes an unknown act", "tab in indentation"):
        mutate, field, _ = CASES[case]
        expected.append(f"{mutate(data_copy)}: {field}: ")
    expected.append(f"{rule_case({'dimension_id': 'nowhere'}, OSS_FILE)(data_copy)}: dimension_id: ")
    result = run_cli("check", "--data", data_copy)
    assert result.exit_code == 1
    for line in expected:
        assert line in result.output
    # A broken rule is left out, so references to it are reported too: at least the four problems made.
    assert int(result.output.split(" problem(s) found")[0].rsplit("\n", 1)[-1]) >= 4
