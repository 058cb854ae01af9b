"""Search index: the text each rule and instrument is found by, segmented and indexed with FTS5.

The index is aligned on its table's rowids so Datasette's own ?_search= uses it
(metadata fts_table). Text whose hash is unchanged since the previous kb.db is
copied from it instead of being segmented again.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Iterator

import sqlite_utils

from plugins.thai_search import FTS_TOKENIZER, index_texts, warm_up

from .models import KnowledgeBase
from .parallel import MIN_ITEMS_FOR_POOL, parallel_map


def searchable_texts(kb: KnowledgeBase) -> dict[str, Iterator[tuple[str, str]]]:
    """The text each rule and instrument is found by: its own words plus its instrument's and authority's names.

    A rule carries its instrument's citation and titles and its authority's names
    so that "Lei 74/2020", "ERC" or "กรมสรรพากร" find the rules they govern.
    The texts are generated one at a time: held all at once they would take
    gigabytes at 100,000 rules (Python stores Thai text at 4 bytes a character).
    """
    authorities = {authority.id: authority for authority in kb.authorities}

    def join(*parts: str | None) -> str:
        return "\n".join(part for part in parts if part)

    def names(authority_id: str | None) -> str:
        authority = authorities[str(authority_id)]  # derive.resolve_context gave every rule its authority
        return join(authority.name_en, authority.name_native, authority.abbreviation)

    instruments = {
        instrument.id: join(
            instrument.citation,
            instrument.title_en,
            instrument.title_native,
            instrument.notes,
            names(instrument.authority_id),
        )
        for instrument in kb.instruments
    }
    rules = (
        (
            rule.id,
            join(
                rule.title_en,
                rule.summary_en,
                rule.text_native,
                rule.provision,
                rule.notes,
                instruments[str(rule.instrument_id)],
                names(rule.authority_id),
            ),
        )
        for rule in kb.rules
    )
    return {"rules": rules, "instruments": iter(instruments.items())}


SEARCH_CHUNK = 5_000


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _previously_indexed(previous: sqlite3.Connection | None, table: str, keys: list[str]) -> dict[str, tuple]:
    """Segmented text the previous kb.db already holds for these ids: (source hash, text, subwords)."""
    if previous is None:
        return {}
    try:
        marks = ", ".join("?" * len(keys))
        found = previous.execute(
            f"select id, source_hash, text, subwords from [{table}_search] where id in ({marks})", keys
        )
        return {key: (source_hash, text, subwords) for key, source_hash, text, subwords in found}
    except sqlite3.DatabaseError:  # an older or damaged kb.db: segment everything again
        return {}


def create_search_index(
    db: sqlite_utils.Database, table: str, texts: Iterator[tuple[str, str]], previous: sqlite3.Connection | None
) -> None:
    """An FTS5 index over `table`, aligned on its rowids so Datasette's ?_search= can use it (metadata fts_table).

    The text column holds the words with Thai segmented (phrases match there);
    subwords holds the words inside Thai compounds. Text whose hash is unchanged
    since the previous kb.db is copied from it instead of being segmented again.
    """
    rowids = {row["id"]: row["rowid"] for row in db.query(f"select rowid, id from [{table}]")}
    search = db.table(f"{table}_search")
    search.create({"key_rowid": int, "id": str, "text": str, "subwords": str, "source_hash": str}, pk="key_rowid")
    search.create_index(["id"], unique=True)  # the next rebuild looks its texts up by id
    while chunk := list(itertools.islice(texts, SEARCH_CHUNK)):
        hashes = [_text_hash(text) for _, text in chunk]
        known = _previously_indexed(previous, table, [key for key, _ in chunk])
        fresh = [text for (key, text), digest in zip(chunk, hashes, strict=True) if known.get(key, ("",))[0] != digest]
        if len(fresh) >= MIN_ITEMS_FOR_POOL:  # load the dictionary once before the pool forks its workers
            warm_up()
        segmented = iter(parallel_map(index_texts, fresh))
        search.insert_all(
            (
                {
                    "key_rowid": rowids[key],
                    "id": key,
                    "source_hash": digest,
                    **dict(
                        zip(
                            ("text", "subwords"),
                            known[key][1:] if known.get(key, ("",))[0] == digest else next(segmented),
                            strict=True,
                        )
                    ),
                }
                for (key, _), digest in zip(chunk, hashes, strict=True)
            ),
            batch_size=1000,
        )
    search.enable_fts(["text", "subwords"], fts_version="FTS5", tokenize=FTS_TOKENIZER)
    search.optimize()
