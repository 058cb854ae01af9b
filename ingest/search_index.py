"""Search index: the text each rule and instrument is found by, segmented and indexed with FTS5.

The index is aligned on its table's rowids so Datasette's own ?_search= uses it
(metadata fts_table). Text whose hash is unchanged since the previous kb.db is
copied from it instead of being segmented again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator

import sqlite_utils

from plugins.thai_search import FTS_TOKENIZER, segment_thai, thai_subwords

from .models import Authority, Instrument

# The columns a record is found by, weighted by relevance in the site's ranking (title > summary > the law's own
# words > everything else). The order is the FTS5 column order that bm25() weights refer to.
SEARCH_COLUMNS = ("title", "summary", "native", "context")
FIELD_SEPARATOR = "\x1f"
Fields = tuple[str, str, str, str]


def searchable_texts(
    authorities: Iterable[Authority], instruments: Iterable[Instrument]
) -> dict[str, Iterator[tuple[str, Fields]]]:
    """The text each rule and instrument is found by, per column: its own words, then its instrument's and
    authority's names as context.

    A rule carries its instrument's citation and titles and its authority's names
    so that "Lei 74/2020", "ERC" or "กรมสรรพากร" find the rules they govern.
    The texts are generated one at a time: held all at once they would take
    gigabytes at 100,000 rules (Python stores Thai text at 4 bytes a character).
    """
    by_id = {authority.id: authority for authority in authorities}
    instruments = list(instruments)

    def join(*parts: str | None) -> str:
        return "\n".join(part for part in parts if part)

    def names(authority_id: str | None) -> str:
        authority = by_id[str(authority_id)]  # derive.resolve_context gave every rule its authority
        return join(authority.name_en, authority.name_native, authority.abbreviation)

    own: dict[str, Fields] = {
        instrument.id: (
            join(instrument.citation, instrument.title_en),
            "",
            instrument.title_native or "",
            join(instrument.notes, names(instrument.authority_id)),
        )
        for instrument in instruments
    }
    rules = (
        (
            rule.id,
            (
                rule.title_en,
                rule.summary_en,
                rule.text_native or "",
                join(rule.provision, rule.notes, *own[instrument.id], names(rule.authority_id)),
            ),
        )
        for instrument in instruments
        for rule in instrument.rules
    )
    return {"rules": rules, "instruments": iter(own.items())}


def index_fields(fields: Fields) -> tuple[str, ...]:
    """The indexed columns for one record: each field with Thai segmented, then the sub-words of all of them."""
    return (*(segment_thai(field) for field in fields), thai_subwords(" ".join(fields)))


INDEXED = (*SEARCH_COLUMNS, "subwords")
SEARCHED_TABLES = ("rules", "instruments")


def _text_hash(fields: Fields) -> str:
    return hashlib.sha1(FIELD_SEPARATOR.join(fields).encode("utf-8")).hexdigest()


def _previously_indexed(previous: sqlite3.Connection | None, table: str, keys: list[str]) -> dict[str, tuple]:
    """Segmented text the previous kb.db already holds for these ids: (source hash, *indexed columns)."""
    if previous is None or not keys:
        return {}
    try:
        marks = ", ".join("?" * len(keys))
        columns = ", ".join(INDEXED)
        found = previous.execute(f"select id, source_hash, {columns} from [{table}_search] where id in ({marks})", keys)
        return {row[0]: tuple(row[1:]) for row in found}
    except sqlite3.DatabaseError:  # an older or damaged kb.db: segment everything again
        return {}


def create_search_tables(db: sqlite_utils.Database) -> None:
    """An FTS5 index per searched table, over a table of its segmented text aligned on the table's rowids.

    Datasette's ?_search= uses it through metadata's fts_table. Each column holds
    its field's words with Thai segmented (phrases match there); subwords holds
    the words inside Thai compounds. The index itself is made by index_search_tables.
    """
    for table in SEARCHED_TABLES:
        search = db.table(f"{table}_search")
        search.create({"key_rowid": int, "id": str, **dict.fromkeys(INDEXED, str), "source_hash": str}, pk="key_rowid")
        search.create_index(["id"], unique=True)  # the next build looks its texts up by id


def index_search_tables(db: sqlite_utils.Database) -> None:
    """Index the search tables of a build from scratch in one pass (about twice as fast as row by row through
    triggers), and add the triggers that keep the index in step when a later build changes some rows."""
    for table in SEARCHED_TABLES:
        db.table(f"{table}_search").enable_fts(
            list(INDEXED), fts_version="FTS5", tokenize=FTS_TOKENIZER, create_triggers=True
        )


def index_records(
    db: sqlite_utils.Database,
    table: str,
    texts: list[tuple[str, int, Fields]],
    previous: sqlite3.Connection | None,
    segment: Callable[[Callable, list], list],
) -> None:
    """Add (id, rowid, fields) records to table's search index; text unchanged since the previous kb.db is copied
    from it instead of being segmented again. segment maps index_fields over texts (in worker processes or not)."""
    hashes = [_text_hash(fields) for _, _, fields in texts]
    known = _previously_indexed(previous, table, [key for key, _, _ in texts])
    reused = [known.get(key, ("",))[0] == digest for (key, _, _), digest in zip(texts, hashes, strict=True)]
    fresh = [fields for (_, _, fields), again in zip(texts, reused, strict=True) if not again]
    segmented = iter(segment(index_fields, fresh))
    columns = ("key_rowid", "id", *INDEXED, "source_hash")
    db.conn.executemany(
        f"insert into [{table}_search] ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
        (
            (rowid, key, *(known[key][1:] if again else next(segmented)), digest)
            for (key, rowid, _), digest, again in zip(texts, hashes, reused, strict=True)
        ),
    )


def optimise_search_indexes(db: sqlite_utils.Database) -> None:
    """Merge each index's segments into one, for the fastest queries (worth it after a build from scratch)."""
    for table in SEARCHED_TABLES:
        db.table(f"{table}_search").optimize()
