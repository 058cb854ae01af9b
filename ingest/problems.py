"""What a maintainer is told when a data file is wrong: a located message with a stable code.

Every problem carries a code from PROBLEM_CODES, so tests and scripts can rely
on the code while the wording of the message improves. docs/errors.md is
generated from this table (`regkb schema` writes it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# code -> what it means and how to fix it. The one list of problem codes.
PROBLEM_CODES: dict[str, str] = {
    "E-FILE-MISSING": "A reference table file (jurisdictions.yml, authorities.yml ...) or an instrument folder "
    "(data/th, data/pt, data/eu) is missing or unreadable.",
    "E-FILE-TOO-LARGE": "A data file is larger than the limit; split the instrument or check for pasted garbage.",
    "E-FILE-ENCODING": "A data file is not valid UTF-8.",
    "E-YAML-SYNTAX": "The file is not valid YAML (the message gives the line).",
    "E-YAML-ALIAS": "The file uses a YAML alias (*name); data files may not.",
    "E-YAML-DUPLICATE-KEY": "A key is written twice in one mapping (the second would silently win).",
    "E-YAML-CONTROL-CHARACTER": "Text holds a control character (NUL, ESC ...) that has no place in a data file.",
    "E-YAML-BINARY": "A value is binary data (!!binary); data files hold text, numbers and dates.",
    "E-FILE-NOT-REGULAR": "A data file is a symbolic link, a folder, a device or a pipe, not a regular file.",
    "E-FILE-UNEXPECTED": "A file or folder under data/ that the ingest would not read (a draft in a subfolder, a "
    ".yaml or .YML file, an unknown country folder).",
    "E-FILE-SHAPE": "The file's top level is not what it should be (a mapping for an instrument, a list for a "
    "reference table).",
    "E-FIELD-MISSING": "A required field is missing.",
    "E-FIELD-UNKNOWN": "A field the contract does not know (often a typo).",
    "E-FIELD-DERIVED": "A field the ingest computes was written in the file; remove it.",
    "E-FIELD-INVALID": "A field's value has the wrong type or is outside its vocabulary or range.",
    "E-RULE-ENDS-BEFORE-START": "A rule's effective_to is before its effective_from.",
    "E-RULE-THRESHOLD-PAIR": "threshold_amount and threshold_unit must be given together.",
    "E-RULE-OFFICIAL-WITHOUT-SOURCE": "verification is official but no source is an official kind.",
    "E-RULE-NO-START": "A rule that applied (or will) has no effective_from.",
    "E-RULE-NO-CONFIRMED-UNTIL": "An unconfirmed rule or a bill lacks confirmed_until.",
    "E-RULE-UNCONFIRMED-ENDED": "An unconfirmed rule has an effective_to; its end is not known.",
    "E-RULE-ENDED-WITHOUT-SOURCE": "A rule is marked repealed, superseded or expired with neither effective_to nor "
    "superseded_by: nothing says it ended.",
    "E-RULE-SUPERSEDES-ITSELF": "A rule names itself in superseded_by.",
    "E-RULE-TEXT-NATIVE-FROM": "text_native and text_native_from must be given together.",
    "E-INSTRUMENT-PUBLISHED-BEFORE-SIGNED": "An instrument's published_date is before its signed_date.",
    "E-INSTRUMENT-REPEALED-BEFORE-EFFECT": "An instrument's repealed_date is before its effective_date.",
    "E-INSTRUMENT-NO-CONFIRMED-UNTIL": "A bill lacks confirmed_until (the date of the latest news of it).",
    "E-DUPLICATE-ID": "Two records share an id (across all files).",
    "E-REF-UNKNOWN": "A field refers to a record that does not exist (the message names the table).",
    "E-REF-WRONG-FOLDER": "An instrument's jurisdiction does not match its folder (data/th, data/pt, data/eu).",
    "E-REF-TRANSPOSES-NOT-EU": "transposes names an instrument that is not an EU act.",
    "E-REF-DOMAIN-MISMATCH": "A rule's domain differs from the domain of its comparison question.",
    "E-REF-FILE-NAME": "An instrument's id differs from its file name (data/<folder>/<id>.yml).",
    "E-REF-SELF-AMENDMENT": "An instrument lists itself in amends.",
    "E-FX-NO-RATE": "A threshold is in a currency with no ECB reference rate in fx_rates.yml, or the ECB has no rate "
    "for that currency on the date named there.",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake, located by file, record and field, so it can be fixed without searching."""

    file: str
    record: str
    field: str
    message: str
    code: str = dataclasses.field(default="E-FIELD-INVALID", compare=False)

    def __post_init__(self) -> None:
        if self.code not in PROBLEM_CODES:
            raise ValueError(f"unknown problem code {self.code}")

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.field}: {self.message} [{self.code}]"


class DataError(Exception):
    """Raised when the data files are not valid; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__(f"{len(self.problems)} problem(s) in the data files")


def errors_markdown() -> str:
    """docs/errors.md: every problem code and what it means."""
    lines = [
        "# Problem codes",
        "",
        "`regkb check` and `regkb ingest` report each problem as `FILE: RECORD: FIELD: MESSAGE [CODE]`.",
        "The code is stable; the message may be reworded. Generated by `regkb schema` from `ingest/problems.py`.",
        "",
        "| code | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in PROBLEM_CODES.items()]
    return "\n".join(lines) + "\n"
