"""Search in Thai, Portuguese and English: how text is indexed and how a query is read, for the ingest and the site.

SQLite's unicode61 tokenizer handles Portuguese and English (with accents
folded) but cannot split Thai, which is written without spaces between words.
So Thai runs are segmented into words with PyThaiNLP's offline dictionary
engine (newmm) before indexing, and queries are segmented the same way.

newmm keeps dictionary compounds whole (ภาษีมูลค่าเพิ่ม), so a word inside a
compound (ภาษี) would be missed. Each compound's dictionary sub-words are
indexed in a second column, which keeps phrase search on the first column
exact while single words still find their compounds.

This file is a Datasette plugin (it replaces the escape_fts SQL function, so
every search box and ?_search= segments Thai the way the index was built) and
the ingest's indexer imports it as plugins.thai_search: the build and the site
read text one way, and the published site needs only Datasette and PyThaiNLP.
It must register after Datasette's own escape_fts, hence trylast.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache, lru_cache

from datasette import hookimpl
from datasette.utils import escape_fts

THAI_RUN = re.compile(r"[\u0E00-\u0E7F]+")
MIN_SUBWORD_CHARS = 2

# unicode61 treats Thai vowel and tone marks (category Mn) as separators, which
# would cut ภาษี (tax) to ภาษ and make it match ภาษา (language). Declaring them
# token characters keeps each segmented Thai word whole.
THAI_MARKS = "".join(chr(code) for code in [0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F)])
FTS_TOKENIZER = f"porter unicode61 remove_diacritics 2 tokenchars '{THAI_MARKS}'"


@cache
def _thai_words() -> frozenset[str]:
    from pythainlp.corpus import thai_words

    return frozenset(thai_words())


@lru_cache(maxsize=1)
def _longest_word() -> int:
    return max(map(len, _thai_words()))


@lru_cache(maxsize=200_000)
def _segment_run(run: str) -> tuple[str, ...]:
    from pythainlp.tokenize import word_tokenize

    return tuple(token for token in word_tokenize(run, engine="newmm", keep_whitespace=False) if token.strip())


def segment_thai(text: str) -> str:
    """Put spaces between Thai words; leave Latin text exactly as it was."""
    return THAI_RUN.sub(lambda match: " ".join(_segment_run(match.group())), text)


@lru_cache(maxsize=200_000)
def _subwords_of(word: str) -> tuple[str, ...]:
    """Dictionary words inside a Thai word, cut only at character-cluster boundaries."""
    from pythainlp.tokenize.tcc import tcc_pos

    dictionary = _thai_words()
    longest = _longest_word()
    cuts = sorted(tcc_pos(word) | {0})
    found = []
    for start_index, start in enumerate(cuts):
        # No dictionary word is longer than `longest`: the search stays linear in the word's length
        # (a long run of Thai digits took 41 s when every piece was tried).
        for end in cuts[start_index + 1 :]:
            if end - start > longest:
                break
            piece = word[start:end]
            if (start, end) != (0, len(word)) and len(piece) >= MIN_SUBWORD_CHARS and piece in dictionary:
                found.append(piece)
    return tuple(dict.fromkeys(found))


def thai_subwords(text: str) -> str:
    """The sub-words of every Thai word in text, space-separated (indexed beside the segmented text)."""
    return " ".join(
        subword for run in THAI_RUN.findall(text) for word in _segment_run(run) for subword in _subwords_of(word)
    )


ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def normalise(text: str) -> str:
    """One Unicode form for stored text and queries: NFC, without zero-width characters.

    Decomposed Thai vowels or a zero-width space pasted from a web page would otherwise match nothing.
    """
    if text.isascii():  # ASCII is already NFC and holds no zero-width character: most of the data
        return text
    return unicodedata.normalize("NFC", text).translate(ZERO_WIDTH)


MAX_QUERY_CHARACTERS = 500  # segmenting is the costly step; SQL time limits do not reach into Python functions
LATIN_WORD = re.compile(r"\w", re.UNICODE)


def _checked(query: str | None) -> str:
    if query and len(query) > MAX_QUERY_CHARACTERS:
        raise ValueError(f"search text is longer than {MAX_QUERY_CHARACTERS} characters")
    return normalise(query or "")


def fts_query(query: str) -> str:
    """A user's search as a safe FTS5 expression: Thai segmented, every term or "phrase" quoted.

    Quoting each term (Datasette's escape_fts) means punctuation such as พ.ศ. or
    art. 10.º can never cause an FTS syntax error; terms are ANDed. A query with
    no terms at all becomes the empty phrase, which matches nothing. A query
    longer than MAX_QUERY_CHARACTERS is refused (the page answers 400).
    """
    return escape_fts(segment_thai(_checked(query))) or '""'


Synonyms = dict[str, tuple[str, ...]]  # a form, lower-cased -> every form of its term; longest form first


def _phrase(form: str) -> str:
    return '"' + segment_thai(form).replace('"', '""') + '"'


def _find(form: str, text: str, start: int = 0) -> int:
    """Where form occurs in text as whole words (Thai has no spaces: any occurrence counts), or -1."""
    position = text.find(form, start)
    while position != -1:
        before = text[position - 1] if position else " "
        after = text[position + len(form)] if position + len(form) < len(text) else " "
        thai = bool(THAI_RUN.match(form))
        if thai or not (LATIN_WORD.match(before) or LATIN_WORD.match(after)):
            return position
        position = text.find(form, position + 1)
    return -1


# Spaces a reader types between Thai words ("ภาษี มูลค่าเพิ่ม"): the glossary's forms are written without them.
SPACE_IN_THAI = re.compile(r"(?<=[\u0E00-\u0E7F]) +(?=[\u0E00-\u0E7F])")
# Short all-capital abbreviations (AT, DE) are also everyday words (at, de): they count only as typed, in capitals.
CASE_SENSITIVE_LENGTH = 2


def folded(text: str) -> str:
    """Lower case without Latin accents (balcão -> balcao), Thai marks kept: how queries meet glossary forms."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn" or "\u0e00" <= c <= "\u0e7f")
    return unicodedata.normalize("NFC", kept)


def expanded_query(query: str, synonyms: Synonyms, mode: str = "all") -> tuple[str, list[str]]:
    """The FTS5 expression for a query, each glossary term in it widened to all its forms; and those added forms.

    "IVA limiar" searches ("iva" OR "vat" OR "ภาษี มูลค่า เพิ่ม" ...) AND ("limiar" OR "threshold" ...): a term
    in one language finds rules written in the others, and abbreviations find the words they stand for. The
    longest known form is matched first, so "one-stop shop" is one term, not three words. Forms are matched
    without accents (balcao unico is balcão único). mode "any" joins the parts with OR instead of AND, for a
    question whose words no single rule holds all of; mode "typed" searches each known term as the phrase typed,
    without its equivalents (what ranks the results holding the words as typed first).
    """
    typed = SPACE_IN_THAI.sub("", _checked(query))
    text = folded(typed)
    groups: list[str] = []
    added: list[str] = []
    for form in synonyms:  # longest first (glossary_synonyms orders them once per connection)
        position = _find(form, text)
        while position != -1:
            forms = synonyms[form]
            original = typed[position : position + len(form)] if len(typed) == len(text) else form
            if len(form) <= CASE_SENSITIVE_LENGTH and original not in forms:
                position = _find(form, text, position + 1)
                continue
            # The words as typed need not stand together (as before the glossary knew them); the other forms do.
            if mode == "typed":
                groups.append(_phrase(original))
            else:
                as_typed = " AND ".join(escape_fts(segment_thai(original)).split(" "))
                others = [
                    _phrase(other)
                    for other in forms
                    if folded(other) != form and len(other) > CASE_SENSITIVE_LENGTH  # "AT" would find "at"
                ]
                groups.append("(" + " OR ".join(dict.fromkeys([f"({as_typed})", *others])) + ")")
            added += [
                other
                for other in forms
                if folded(other) != form and len(other) > CASE_SENSITIVE_LENGTH and other not in added
            ]
            text = text[:position] + " " + text[position + len(form) :]
            typed = typed[:position] + " " + typed[position + len(form) :] if len(typed) == len(text) else typed
            position = _find(form, text)
    rest = escape_fts(segment_thai(text))
    parts = groups + [term for term in rest.split(" ") if term]
    return ((" OR " if mode == "any" else " AND ").join(parts) if parts else '""'), added


def _searchable_form(form: str) -> str:
    """A glossary form as text writes it: without the words in brackets that explain it ("customs duty (import
    duty)" is searched as "customs duty"; no text writes the two together)."""
    bare = re.sub(r"\s*\([^)]*\)", "", form).strip()
    return bare if len(bare) >= 3 else form


def glossary_synonyms(conn) -> Synonyms:
    """Every form of every glossary term in the connection's kb.db, accents folded; none without a glossary."""
    try:
        rows = conn.execute(
            "select term_en, term_th, term_pt, abbreviations_en, abbreviations_th, abbreviations_pt, "
            "aliases_en, aliases_th, aliases_pt from glossary"
        ).fetchall()
    except Exception:  # another database (Datasette's own), or a kb.db built before the glossary
        return {}
    synonyms: Synonyms = {}
    for row in rows:
        forms = [normalise(form) for form in row[:3] if form]
        for listed in row[3:]:
            forms += [normalise(form) for form in json.loads(listed or "[]") if form]
        forms = list(dict.fromkeys(_searchable_form(form) for form in forms))
        for form in forms:
            if len(form) >= MIN_SUBWORD_CHARS:
                synonyms.setdefault(folded(form), tuple(forms))
    return dict(sorted(synonyms.items(), key=lambda item: len(item[0]), reverse=True))


def warm_up() -> None:
    """Load the dictionary once in this process, so worker processes forked later share it."""
    index_texts("ภาษีมูลค่าเพิ่ม")


def index_texts(text: str) -> tuple[str, str]:
    """The two indexed columns for one text: Thai segmented, and the sub-words of Thai compounds."""
    return segment_thai(text), thai_subwords(text)


@hookimpl(trylast=True)
def prepare_connection(conn):
    """escape_fts (every search box and ?_search=) and fts_query expand glossary terms; fts_literal does not."""
    synonyms = glossary_synonyms(conn)

    def expanded(query: str) -> str:
        return expanded_query(query, synonyms)[0]

    def any_word(query: str) -> str:
        return expanded_query(query, synonyms, mode="any")[0]

    def as_typed(query: str) -> str:
        return expanded_query(query, synonyms, mode="typed")[0]

    def also_searched(query: str) -> str:
        return ", ".join(expanded_query(query, synonyms)[1])

    conn.create_function("escape_fts", 1, expanded, deterministic=True)
    conn.create_function("fts_query", 1, expanded, deterministic=True)
    conn.create_function("fts_any", 1, any_word, deterministic=True)
    conn.create_function("fts_literal", 1, fts_query, deterministic=True)
    conn.create_function("fts_as_typed", 1, as_typed, deterministic=True)
    conn.create_function("search_expansion", 1, also_searched, deterministic=True)


@hookimpl
def startup(datasette):
    """Load the Thai dictionary as the server starts, so the first Thai search is as quick as the next."""
    warm_up()
