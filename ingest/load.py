"""Load: read the YAML files under data/ into plain Python values.

Nothing is interpreted here beyond YAML itself. Dates stay strings so that the
models, not the YAML parser, judge them and can name the field of a bad one.
Every unreadable file becomes a Problem; loading goes on so that one run
reports every broken file at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .parallel import parallel_map
from .problems import Problem

MAX_FILE_BYTES = 2_000_000
REFERENCE_FILES = ("jurisdictions", "authorities", "dimensions", "fx_rates")
INSTRUMENT_DIRS = ("th", "pt", "eu")


def _without_timestamps(loader: type) -> dict:
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in loader.yaml_implicit_resolvers.items()
    }


class DataLoader(yaml.CSafeLoader):
    """libyaml's SafeLoader (fast: 100,000 rules must load in seconds) without timestamps.

    Dates stay strings: the models parse them, so a bad date is reported with its field.
    """

    yaml_implicit_resolvers = _without_timestamps(yaml.CSafeLoader)


def _alias_line(text: str) -> int | None:
    """Line of the first YAML alias, if any.

    Data files have no use for anchors, and refusing aliases shuts out "billion
    laughs" expansion before anything is built. Only files holding & or * can
    have one, so only those pay for the event scan.
    """
    if "&" not in text and "*" not in text:
        return None
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1
    return None


@dataclass(frozen=True)
class LoadedFile:
    """A data file's path (relative to the data directory, for messages) and its parsed content."""

    path: str
    content: Any


@dataclass
class LoadedData:
    reference: dict[str, LoadedFile]
    instruments: list[LoadedFile]
    problems: list[Problem]


def read_yaml(path: Path, shown_as: str) -> tuple[Any, Problem | None]:
    """Parse one file; on failure return a Problem naming the file and, where YAML says, the line."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None, Problem(shown_as, "-", "-", f"file is larger than {MAX_FILE_BYTES:,} bytes")
        text = path.read_bytes().decode("utf-8")
        alias_line = _alias_line(text)
        if alias_line is not None:
            return None, Problem(shown_as, "-", "-",
                                 f"line {alias_line}: YAML aliases (*name) are not allowed in data files")
        return yaml.load(text, Loader=DataLoader), None
    except UnicodeDecodeError as error:
        return None, Problem(shown_as, "-", "-", f"not valid UTF-8 (byte {error.start})")
    except yaml.YAMLError as error:
        return None, Problem(shown_as, "-", "-", f"YAML syntax error: {' '.join(str(error).split())}")


def instrument_files(data_dir: Path) -> list[Path]:
    """Every instrument file under data/, in a stable order."""
    return [path for folder in INSTRUMENT_DIRS for path in sorted((data_dir / folder).glob("*.y*ml"))]


def load_data_dir(data_dir: Path, on_file: Callable[[], None] | None = None) -> LoadedData:
    """Read the reference tables and every instrument file, in a stable order.

    on_file, if given, is called after each instrument file (to drive a progress bar).
    """
    loaded = LoadedData(reference={}, instruments=[], problems=[])
    for name in REFERENCE_FILES:
        path = data_dir / f"{name}.yml"
        if not path.exists():
            loaded.problems.append(Problem(f"{name}.yml", "-", "-", "reference table file is missing"))
            continue
        content, problem = read_yaml(path, path.name)
        if problem:
            loaded.problems.append(problem)
        else:
            loaded.reference[name] = LoadedFile(path.name, content)
    paths = instrument_files(data_dir)
    shown = [path.relative_to(data_dir).as_posix() for path in paths]
    read = parallel_map(_read_instrument_file, list(zip(paths, shown)), on_file)
    for shown_as, (content, problem) in zip(shown, read):
        if problem:
            loaded.problems.append(problem)
        else:
            loaded.instruments.append(LoadedFile(shown_as, content))
    return loaded


def _read_instrument_file(path_and_name: tuple[Path, str]) -> tuple[Any, Problem | None]:
    return read_yaml(*path_and_name)
