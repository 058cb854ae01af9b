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

from plugins.thai_search import FTS_TOKENIZER, segment_thai, thai_subwords, warm_up

from .models import KnowledgeBase
from .parallel import MIN_ITEMS_FOR_POOL, parallel_map

# The columns a record is found by, weighted by relevance in the site's ranking (title > summary > the law's own
# words > everything else). The order is the FTS5 column order that bm25() weights refer to.
SEARCH_COLUMNS = ("title", "summary", "native", "context")
FIELD_SEPARATOR = "\x1f"
Fields = tuple[str, str, str, str]


def searchable_texts(kb: KnowledgeBase) -> dict[str, Iterator[tuple[str, Fields]]]:
    """The text each rule and instrument is found by, per column: its own words, then its instrument's and
    authority's names as context.

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

    instruments: dict[str, Fields] = {
        instrument.id: (
            join(instrument.citation, instrument.title_en),
            "",
            instrument.title_native or "",
            join(instrument.notes, names(instrument.authority_id)),
        )
        for instrument in kb.instruments
    }
    rules = (
        (
            rule.id,
            (
                rule.title_en,
                rule.summary_en,
                rule.text_native or "",
                join(rule.provision, rule.notes, *instruments[str(rule.instrument_id)], names(rule.authority_id)),
            ),
        )
        for rule in kb.rules
    )
    return {"rules": rules, "instruments": iter(instruments.items())}


def index_fields(fields: Fields) -> tuple[str, ...]:
    """The indexed columns for one record: each field with Thai segmented, then the sub-words of all of them."""
    return (*(segment_thai(field) for field in fields), thai_subwords(" ".join(fields)))


SEARCH_CHUNK = 5_000
INDEXED = (*SEARCH_COLUMNS, "subwords")


def _text_hash(fields: Fields) -> str:
    return hashlib.sha1(FIELD_SEPARATOR.join(fields).encode("utf-8")).hexdigest()


def _previously_indexed(previous: sqlite3.Connection | None, table: str, keys: list[str]) -> dict[str, tuple]:
    """Segmented text the previous kb.db already holds for these ids: (source hash, *indexed columns)."""
    if previous is None:
        return {}
    try:
        marks = ", ".join("?" * len(keys))
        columns = ", ".join(INDEXED)
        found = previous.execute(f"select id, source_hash, {columns} from [{table}_search] where id in ({marks})", keys)
        return {row[0]: tuple(row[1:]) for row in found}
    except sqlite3.DatabaseError:  # an older or damaged kb.db: segment everything again
        return {}


def create_search_index(
    db: sqlite_utils.Database, table: str, texts: Iterator[tuple[str, Fields]], previous: sqlite3.Connection | None
) -> None:
    """An FTS5 index over `table`, aligned on its rowids so Datasette's ?_search= can use it (metadata fts_table).

    Each column holds its field's words with Thai segmented (phrases match there);
    subwords holds the words inside Thai compounds. Text whose hash is unchanged
    since the previous kb.db is copied from it instead of being segmented again.
    """
    rowids = {row["id"]: row["rowid"] for row in db.query(f"select rowid, id from [{table}]")}
    search = db.table(f"{table}_search")
    search.create({"key_rowid": int, "id": str, **dict.fromkeys(INDEXED, str), "source_hash": str}, pk="key_rowid")
    search.create_index(["id"], unique=True)  # the next rebuild looks its texts up by id
    while chunk := list(itertools.islice(texts, SEARCH_CHUNK)):
        hashes = [_text_hash(fields) for _, fields in chunk]
        known = _previously_indexed(previous, table, [key for key, _ in chunk])
        fresh = [
            fields for (key, fields), digest in zip(chunk, hashes, strict=True) if known.get(key, ("",))[0] != digest
        ]
        if len(fresh) >= MIN_ITEMS_FOR_POOL:  # load the dictionary once before the pool forks its workers
            warm_up()
        segmented = iter(parallel_map(index_fields, fresh))
        search.insert_all(
            (
                {
                    "key_rowid": rowids[key],
                    "id": key,
                    "source_hash": digest,
                    **dict(
                        zip(
                            INDEXED,
                            known[key][1:] if known.get(key, ("",))[0] == digest else next(segmented),
                            strict=True,
                        )
                    ),
                }
                for (key, _), digest in zip(chunk, hashes, strict=True)
            ),
            batch_size=1000,
        )
    search.enable_fts(list(INDEXED), fts_version="FTS5", tokenize=FTS_TOKENIZER)
    search.optimize()
