"""Load: read the YAML files under data/ into plain Python values.

Nothing is interpreted here beyond YAML itself. Dates stay strings so that the
models, not the YAML parser, judge them and can name the field of a bad one.
Every unreadable file becomes a Problem; loading goes on so that one run
reports every broken file at once.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from plugins.thai_search import normalise

from .models import REFERENCE_TABLES
from .parallel import MIN_FILES_FOR_POOL, parallel_map
from .problems import Problem

MAX_FILE_BYTES = 2_000_000
INSTRUMENT_DIRS = ("th", "pt", "eu")
# C0 and C1 control characters except tab and newline: they can hide text from a terminal or break XML (Atom).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _without_timestamps(loader: type) -> dict:
    resolvers_by_first_character: dict = getattr(loader, "yaml_implicit_resolvers")  # noqa: B009 (untyped in stubs)
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in resolvers_by_first_character.items()
    }


class DataLoader(yaml.CSafeLoader):
    """libyaml's SafeLoader (fast: 100,000 rules must load in seconds) without timestamps.

    Dates stay strings: the models parse them, so a bad date is reported with its field.
    """

    yaml_implicit_resolvers = _without_timestamps(yaml.CSafeLoader)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Refuse a key written twice in one mapping: YAML would keep the last one and drop the first silently."""
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise DuplicateKey(
                    None,
                    None,
                    f"line {key_node.start_mark.line + 1}: key '{key}' is written twice in one mapping",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class DuplicateKey(ConstructorError):
    """A mapping repeats a key."""


class UnsafeValue(ValueError):
    """A parsed value with no place in a data file: a control character, or binary data (!!binary)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def cleaned(value: Any, path: str = "") -> Any:
    """Parsed YAML with every text in one Unicode form (NFC, no zero-width characters); refuses unsafe values.

    Checked after parsing, because YAML's escapes ("\\x1b", "\\0") make control characters out of plain text.
    """
    where = path or "-"
    if isinstance(value, str):
        if CONTROL_CHARACTERS.search(value):
            raise UnsafeValue("E-YAML-CONTROL-CHARACTER", f"control character in the text of {where}")
        return normalise(value)
    if isinstance(value, (bytes, bytearray)):
        raise UnsafeValue("E-YAML-BINARY", f"binary data (!!binary) in {where}")
    if isinstance(value, dict):
        return {key: cleaned(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [cleaned(item, f"{path}[{index + 1}]") for index, item in enumerate(value)]
    return value


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
            return event.start_mark.line + 1 if event.start_mark else 1
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
    _, content, problem = read_data_file(path, shown_as)
    return content, problem


def content_hash(data: bytes) -> str:
    """How a data file's bytes are fingerprinted (build_files.content_hash): sha1."""
    return hashlib.sha1(data).hexdigest()


def _refused(path: Path, shown_as: str) -> Problem | None:
    """Why a path cannot be read as a data file (a link, a folder, a device, a pipe, too large), if it cannot."""
    if path.is_symlink() or not path.is_file():
        return Problem(
            shown_as, "-", "-", "not a regular file (a link, a folder, a device or a pipe)", "E-FILE-NOT-REGULAR"
        )
    if path.stat().st_size > MAX_FILE_BYTES:
        return Problem(shown_as, "-", "-", f"file is larger than {MAX_FILE_BYTES:,} bytes", "E-FILE-TOO-LARGE")
    return None


def read_data_file(path: Path, shown_as: str) -> tuple[str | None, Any, Problem | None]:
    """One file's content hash (of the bytes parsed) and parsed content, or a Problem naming the file."""
    try:
        refused = _refused(path, shown_as)
        if refused:
            return None, None, refused
        data = path.read_bytes()
    except OSError as error:
        return None, None, Problem(shown_as, "-", "-", f"cannot read the file: {error.strerror}", "E-FILE-MISSING")
    content, problem = parse_yaml(data, shown_as)
    return content_hash(data), content, problem


def current_hash(path: Path) -> str:
    """A data file's content hash now, or "" for one the reader would refuse: it is then read, and reported,
    like any changed file."""
    try:
        return "" if _refused(path, path.name) else content_hash(path.read_bytes())
    except OSError:
        return ""


def parse_yaml(data: bytes, shown_as: str) -> tuple[Any, Problem | None]:
    """Parse a file's bytes; refuse aliases, duplicate keys, binary values and control characters."""
    try:
        text = data.decode("utf-8")
        alias_line = _alias_line(text)
        if alias_line is not None:
            return None, Problem(
                shown_as,
                "-",
                "-",
                f"line {alias_line}: YAML aliases (*name) are not allowed in data files",
                "E-YAML-ALIAS",
            )
        return cleaned(yaml.load(text, Loader=DataLoader)), None
    except UnsafeValue as error:
        return None, Problem(shown_as, "-", "-", str(error), error.code)
    except UnicodeDecodeError as error:
        return None, Problem(shown_as, "-", "-", f"not valid UTF-8 (byte {error.start})", "E-FILE-ENCODING")
    except DuplicateKey as error:
        return None, Problem(shown_as, "-", "-", str(error.problem), "E-YAML-DUPLICATE-KEY")
    except yaml.YAMLError as error:
        return None, Problem(shown_as, "-", "-", f"YAML syntax error: {' '.join(str(error).split())}", "E-YAML-SYNTAX")


def instrument_files_in(folder: Path) -> list[Path]:
    """The instrument files of one country folder (every *.yml, checked later), sorted; none when unreadable."""
    try:
        return sorted(path for path in folder.iterdir() if path.name.endswith(".yml"))
    except OSError:
        return []


def unexpected_files(data_dir: Path) -> list[str]:
    """Anything under data/ the ingest would not read: drafts in subfolders, .YML or .yaml files, data/es/ ...

    Reported rather than ignored: a maintainer who saved a rule there expects to see it.
    """
    expected = {f"{name}.yml" for name in REFERENCE_TABLES} | set(INSTRUMENT_DIRS)
    found = []
    for path in sorted(data_dir.iterdir()):
        if path.name not in expected and not path.name.startswith("."):
            found.append(path.name + ("/" if path.is_dir() else ""))
    for folder in INSTRUMENT_DIRS:
        if (data_dir / folder).is_dir():
            found += [
                f"{folder}/{path.name}" + ("/" if path.is_dir() else "")
                for path in sorted((data_dir / folder).iterdir())
                if not path.name.endswith(".yml") and not path.name.startswith(".")
            ]
    return found


def instrument_files(data_dir: Path) -> list[Path]:
    """Every instrument file under data/, in a stable order."""
    return [path for folder in INSTRUMENT_DIRS for path in instrument_files_in(data_dir / folder)]


def load_reference(data_dir: Path) -> LoadedData:
    """Read the reference tables, and report missing country folders and files the ingest would not read."""
    loaded = LoadedData(reference={}, instruments=[], problems=[])
    for name in REFERENCE_TABLES:
        path = data_dir / f"{name}.yml"
        if not path.exists():
            loaded.problems.append(
                Problem(f"{name}.yml", "-", "-", "reference table file is missing", "E-FILE-MISSING")
            )
            continue
        content, problem = read_yaml(path, path.name)
        if problem:
            loaded.problems.append(problem)
        else:
            loaded.reference[name] = LoadedFile(path.name, content)
    for folder in INSTRUMENT_DIRS:
        # A missing or unreadable country folder would silently drop a country from the site.
        if not os.access(data_dir / folder, os.R_OK | os.X_OK) or not (data_dir / folder).is_dir():
            loaded.problems.append(
                Problem(f"{folder}/", "-", "-", "instrument folder is missing or unreadable", "E-FILE-MISSING")
            )
        elif not instrument_files_in(data_dir / folder):
            loaded.problems.append(
                Problem(f"{folder}/", "-", "-", "instrument folder holds no instrument file", "E-FILE-MISSING")
            )
    loaded.problems += [
        Problem(
            name,
            "-",
            "-",
            "unexpected file: the ingest reads data/<th|pt|eu>/*.yml and the reference tables only; move or remove it",
            "E-FILE-UNEXPECTED",
        )
        for name in unexpected_files(data_dir)
    ]
    return loaded


def load_data_dir(data_dir: Path, on_file: Callable[[], None] | None = None) -> LoadedData:
    """Read the reference tables and every instrument file, in a stable order.

    on_file, if given, is called after each instrument file (to drive a progress bar).
    """
    loaded = load_reference(data_dir)
    paths = instrument_files(data_dir)
    shown = [shown_path(data_dir, path) for path in paths]
    read = parallel_map(read_instrument_file, list(zip(paths, shown, strict=True)), MIN_FILES_FOR_POOL)
    for shown_as, (_, content, problem) in zip(shown, read, strict=True):
        if problem:
            loaded.problems.append(problem)
        else:
            loaded.instruments.append(LoadedFile(shown_as, content))
        if on_file:
            on_file()
    return loaded


def shown_path(data_dir: Path, path: Path) -> str:
    """How messages and build_files name a data file: relative to the data folder."""
    return path.relative_to(data_dir).as_posix()


def read_instrument_file(path_and_name: tuple[Path, str]) -> tuple[str | None, Any, Problem | None]:
    """read_data_file for one (path, shown name) pair: the form a worker process is handed."""
    return read_data_file(*path_and_name)
