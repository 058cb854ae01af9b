"""Layout: one canonical way to write an instrument file, and the JSON Schema editors use to check one.

Like congress-legislators' lint of its YAML, every instrument file is kept in
the layout `regkb format` writes: fields in the contract's order, dates quoted
(so no YAML tool reads them as timestamps), long text folded, lists in block
style. A diff then shows only what a maintainer changed, never a reshuffle.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from .load import DataLoader, instrument_files
from .models import Instrument, Record, Rule, Source

FOLD_AFTER = 80  # characters: longer text is written folded (>-), so no line runs past WIDTH
WIDTH = 116
LOOKS_LIKE_A_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CanonicalDumper(yaml.SafeDumper):
    """SafeDumper with the project's string styles; never emits anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent list items under their key (`rules:` then `  - id:`), as the files have always been written."""
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text.strip():
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    if len(text) > FOLD_AFTER and text == text.strip() and "  " not in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=">")
    if LOOKS_LIKE_A_DATE.match(text):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


CanonicalDumper.add_representer(str, _represent_text)


def _ordered(content: Any, model: type[Record]) -> Any:
    """content's keys in the model's field order; unknown keys last, as written (validation reports them)."""
    if not isinstance(content, dict):
        return content
    fields = list(model.model_fields)
    ordered = {name: content[name] for name in fields if name in content}
    ordered |= {key: value for key, value in content.items() if key not in ordered}
    nested: dict[str, type[Record]] = {"rules": Rule, "sources": Source}
    for name, child in nested.items():
        if isinstance(ordered.get(name), list):
            ordered[name] = [_ordered(item, child) for item in ordered[name]]
    return ordered


def canonical_yaml(content: Any) -> str:
    """An instrument file's content written in the canonical layout."""
    return yaml.dump(
        _ordered(content, Instrument),
        Dumper=CanonicalDumper,
        allow_unicode=True,
        sort_keys=False,
        width=WIDTH,
        indent=2,
        default_flow_style=False,
    )


def misformatted_files(data_dir: Path, rewrite: bool = False) -> list[Path]:
    """Instrument files not in the canonical layout; rewritten in place when rewrite is true.

    A file that does not parse is left alone: `regkb check` reports it.
    """
    found = []
    for path in instrument_files(data_dir):
        text = path.read_text(encoding="utf-8")
        try:
            content = yaml.load(text, Loader=DataLoader)
        except yaml.YAMLError:
            continue
        canonical = canonical_yaml(content)
        if text != canonical:
            found.append(path)
            if rewrite:
                path.write_text(canonical, encoding="utf-8")
    return found


def instrument_schema() -> dict[str, Any]:
    """JSON Schema of an instrument file, from the models: derived fields are left out, so editors flag them."""
    schema = Instrument.model_json_schema(mode="validation")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        properties = definition.get("properties", {})
        for name in [name for name, spec in properties.items() if spec.get("derived")]:
            del properties[name]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "regkb instrument file (data/<th|pt|eu>/<id>.yml)"
    return schema


def schema_json() -> str:
    return json.dumps(instrument_schema(), indent=2, ensure_ascii=False) + "\n"
