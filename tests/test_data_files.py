"""The data files as a maintainer's editor sees them: the generated JSON Schema, the canonical layout, the example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ingest.layout import canonical_yaml, misformatted_files, schema_json
from ingest.load import DataLoader, instrument_files
from ingest.models import Instrument

from .conftest import DATA_DIR, edit_data_file, run_cli

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "example-instrument.yml"


def test_the_committed_schema_is_the_generated_one():
    assert (DOCS / "instrument.schema.json").read_text(encoding="utf-8") == schema_json(), "run `regkb schema`"


@pytest.mark.parametrize("path", instrument_files(DATA_DIR), ids=lambda path: path.name)
def test_every_data_file_validates_against_the_schema(path):
    schema = json.loads((DOCS / "instrument.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(yaml.load(path.read_text(encoding="utf-8"), Loader=DataLoader), schema)


def test_the_schema_refuses_a_typo_and_a_derived_field():
    schema = json.loads(schema_json())
    content = yaml.load(instrument_files(DATA_DIR)[0].read_text(encoding="utf-8"), Loader=DataLoader)
    content["rules"][0]["jurisdiction"] = "TH"  # derived by the ingest
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(content, schema)
    content["rules"][0].pop("jurisdiction")
    content["rules"][0]["threshhold_amount"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(content, schema)


def test_the_example_file_names_the_schema_and_is_valid():
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./instrument.schema.json\n")
    content = yaml.load(text, Loader=DataLoader)
    Instrument.model_validate(content)
    jsonschema.validate(content, json.loads(schema_json()))


def test_every_data_file_is_in_the_canonical_layout():
    assert misformatted_files(DATA_DIR) == [], "run `regkb format`"


def test_format_rewrites_a_file_to_the_canonical_layout_without_changing_its_content(data_copy):
    name = "th/th-revenue-code-amendment-53.yml"
    content = edit_data_file(data_copy, name, lambda content: None)  # PyYAML's own layout: not canonical
    assert run_cli("format", "--data", data_copy, "--check").exit_code == 1
    result = run_cli("format", "--data", data_copy)
    assert result.exit_code == 0 and f"reformatted {name}" in result.output
    text = (data_copy / name).read_text(encoding="utf-8")
    assert text == canonical_yaml(content)
    assert yaml.load(text, Loader=DataLoader) == content
    assert run_cli("format", "--data", data_copy, "--check").exit_code == 0
