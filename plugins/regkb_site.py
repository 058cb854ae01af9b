"""The site's own code: the in-force test, read-only serving with a response cache, the timeline, a rule's sources.

Everything else (facets, labels, canned queries, CSV) is Datasette's own,
configured in metadata.yml. This file imports only Datasette and the standard
library, so `datasette publish` and `datasette package` can ship it as it is;
the ingest and the tests import in_force_on from here, so the rule is stated once.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
import sqlite3
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import parse_qsl

from datasette import hookimpl
from datasette.filters import FilterArguments
from datasette.utils.asgi import BadRequest, Response
from markupsafe import Markup, escape

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; font-src data:"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
NEVER_APPLIED = ("proposed", "rejected")


def iso_day(value: str, name: str = "date") -> str:
    """A calendar date written YYYY-MM-DD, or a ValueError naming the parameter (2021-1-1 is refused, not misread)."""
    try:
        if len(value) == 10 and dt.date.fromisoformat(value).isoformat() == value:
            return value
    except (TypeError, ValueError):
        pass
    raise ValueError(f"{name} must be a date written YYYY-MM-DD, got {value!r}")


def in_force_on(
    effective_from: str | None, effective_to: str | None, status: str, last_verified: str | None, day: str
) -> bool:
    """Whether a rule applied on day (ISO dates): started, not yet ended, and ever enacted.

    Every enacted rule has a start date (the data contract requires it). An
    `unconfirmed` rule has no end date: it is the last state a source confirmed,
    and it keeps answering (with its warning) until a source says otherwise.
    This is the one definition of "in force on a date", used by the site's
    queries and the data checks. last_verified is kept in the signature so saved
    queries written against the first version keep working.
    """
    iso_day(day)
    if status in NEVER_APPLIED:
        return False
    return effective_from is not None and effective_from <= day and (effective_to is None or day <= effective_to)


CACHE_MAX_BYTES = 64 * 1024 * 1024
CACHE_MAX_ENTRY_BYTES = 1024 * 1024
CACHE_MAX_ENTRIES = 4096
CACHE_HEADER = (b"x-regkb-cache", b"hit")
# Keys seen once are remembered (as hashes) before a response is kept: a URL enters the cache on its second
# request, so a flood of one-off junk URLs never pushes out the pages people return to.
SEEN_ONCE_MAX = 65_536


def is_csv_export(scope, args: dict[str, str]) -> bool:
    """A CSV export (args: the parsed query string). It goes past the response cache: Datasette streams CSV after
    a 200 and, when a page of rows hits the SQL time limit, ends it with the error's text; a kept copy would hand
    that cut-short file to everyone after."""
    return scope["path"].endswith(".csv") or args.get("_format") == "csv"


def response_cache(
    app,
    max_bytes: int = CACHE_MAX_BYTES,
    max_entry_bytes: int = CACHE_MAX_ENTRY_BYTES,
    max_entries: int = CACHE_MAX_ENTRIES,
):
    """ASGI middleware keeping recent successful GET responses in memory, least recently used out first.

    Correct only because kb.db is immutable while it is served: the same URL on
    the same host always gives the same answer. The key includes the Host header
    (pages carry absolute links built from it), so one visitor's Host cannot reach
    another's page; responses that set a cookie are never kept; headers count
    towards the size cap. Large responses are passed through (and CSV exports never reach the cache). A URL is kept only from its
    second request on, so one-off URLs (a flood of junk query strings) cannot evict the pages people use.
    """
    entries: OrderedDict[tuple, tuple[dict, bytes, int]] = OrderedDict()
    seen_once: set[int] = set()
    held = 0

    async def cached_app(scope, receive, send):
        nonlocal held
        if scope["type"] != "http" or scope["method"] != "GET":
            await app(scope, receive, send)
            return
        host = dict(scope.get("headers") or []).get(b"host", b"")
        key = (scope.get("scheme"), host, scope["path"], scope.get("query_string", b""))
        if key in entries:
            entries.move_to_end(key)
            start, body, _ = entries[key]
            await send(dict(start, headers=[*start["headers"], CACHE_HEADER]))
            await send({"type": "http.response.body", "body": body})
            return
        if hash(key) not in seen_once:
            if len(seen_once) >= SEEN_ONCE_MAX:
                seen_once.clear()
            seen_once.add(hash(key))
            await app(scope, receive, send)
            return
        seen_once.discard(hash(key))
        start: dict | None = None
        chunks: list[bytes] | None = []

        async def capture(message):
            nonlocal start, chunks
            if message["type"] == "http.response.start":
                start = message
                if message["status"] != 200 or any(name.lower() == b"set-cookie" for name, _ in message["headers"]):
                    chunks = None
            elif message["type"] == "http.response.body" and chunks is not None:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > max_entry_bytes:
                    chunks = None
            await send(message)

        await app(scope, receive, capture)
        if start is not None and chunks is not None:
            body = b"".join(chunks)
            size = len(body) + sum(len(name) + len(value) for name, value in start["headers"]) + len(repr(key))
            entries[key] = (start, body, size)
            held += size
            while held > max_bytes or len(entries) > max_entries:
                _, (_, _, dropped) = entries.popitem(last=False)
                held -= dropped

    return cached_app


UTF8_BOM = b"\xef\xbb\xbf"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        b"'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
# Longest text or blob any SQL expression may build: far above the largest cell (the timeline SVG), far below
# what randomblob() or printf() could otherwise allocate for one visitor.
MAX_SQL_VALUE_BYTES = 20_000_000


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
ALLOWED_HOSTS_VARIABLE = "REGKB_ALLOWED_HOSTS"


def allowed_hosts(datasette) -> set[str]:
    """Host names the site answers for: loopback, metadata.yml's plugins.regkb_site.allowed_hosts, and
    $REGKB_ALLOWED_HOSTS (comma-separated; `regkb serve --allowed-host` sets it)."""
    configured = (datasette.plugin_config("regkb_site") or {}).get("allowed_hosts") or []
    from_environment = [name for name in os.environ.get(ALLOWED_HOSTS_VARIABLE, "").split(",") if name]
    return LOOPBACK_HOSTS | {name.lower() for name in [*configured, *from_environment]}


def host_name(scope) -> str:
    """The Host header without its port ([::1]:8001 -> ::1)."""
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").lower()
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def query_arguments(scope) -> dict[str, str]:
    """The request's query string as a dict (blank values kept: an empty parameter is still a parameter)."""
    return dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True))


class TableShapes:
    """Each table's columns and foreign keys, read once per process: the file is immutable while served."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], tuple[list[str], list[dict]] | None] = {}

    async def of(self, db, name: str) -> tuple[list[str], list[dict]] | None:
        key = (db.name, name)
        if key not in self.known:
            exists = name in await db.table_names()
            self.known[key] = (await db.table_columns(name), await db.foreign_keys_for_table(name)) if exists else None
        return self.known[key]


async def request_problem(datasette, scope, args: dict[str, str], shapes: TableShapes) -> str | None:
    """Why a request's parameters cannot be answered (to be sent as HTTP 400 naming the parameter), or None.

    Datasette answers an unknown sort column with a 500 and a misspelt code with a silent empty answer; both are
    the visitor's mistake and are said so. The date and domain of the comparison pages and queries are checked
    here too, wherever they are asked for.
    """
    parts = scope["path"].strip("/").split("/")
    if len(parts) == 2 and parts[0] in datasette.databases:
        db = datasette.get_database(parts[0])
        name = parts[1].rsplit(".", 1)[0] if parts[1].endswith((".json", ".csv", ".atom")) else parts[1]
        shape = await shapes.of(db, name)
        if shape is not None:
            columns, foreign_keys = shape
            for parameter in ("_sort", "_sort_desc"):
                if parameter in args and args[parameter] not in columns:
                    return f"{parameter}: table {name} has no column {args[parameter]!r}"
            # A filter on a column that refers to a lookup table (jurisdiction=TH, status=in_force) must name a
            # value that exists there: a misspelt code would otherwise give an empty answer that looks real.
            for key in foreign_keys:
                value = args.get(key["column"])
                if value is not None:
                    sql = f"select 1 from [{key['other_table']}] where [{key['other_column']}] = ? limit 1"
                    if (await db.execute(sql, [value])).first() is None:
                        return f"{key['column']}: no {key['other_table']} value {value!r}"
            return None
    if args.get("date"):
        try:
            iso_day(args["date"])
        except ValueError as error:
            return str(error)
    if args.get("domain"):
        domains = await known_domains(served_database(datasette))
        if args["domain"] not in domains:
            return f"domain must be one of {', '.join(domains)} (or empty for both), got {args['domain']!r}"
    return None


async def known_domains(db) -> list[str]:
    return [row[0] for row in (await db.execute("select distinct domain from dimensions order by 1")).rows]


EXCEL_MAX_BYTES = 32 * 1024 * 1024
FORMULA_STARTS = ("=", "+", "-", "@")


def neutralised_csv(data: bytes) -> bytes:
    """The CSV with every cell that a spreadsheet would run as a formula (=, +, -, @ first) starting with '."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["'" + cell if cell.startswith(FORMULA_STARTS) else cell for cell in row])
    return out.getvalue().encode("utf-8")


def for_excel(send, neutralise: bool):
    """An ASGI send for a CSV people open in Excel: a UTF-8 byte-order mark first (so Thai and "n.º" read right),
    and with neutralise (the download links' `_bom=1&_dl=1`) formula-like cells made inert. Only a complete, 200
    answer is changed; the file is held whole for that, up to EXCEL_MAX_BYTES (beyond: 413, use the plain CSV)."""
    start: dict | None = None
    mode = "hold"  # hold the 200 answer to rewrite it; pass an error through; drop the rest of a refused file
    chunks: list[bytes] = []
    size = 0

    async def excel_send(message):
        nonlocal start, size, mode
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                start = message
            else:
                mode = "pass"
                await send(message)
            return
        if mode == "pass":
            await send(message)
            return
        if mode == "refused" or start is None:
            return
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > EXCEL_MAX_BYTES:
            mode = "refused"
            chunks.clear()
            refusal = Response.text("File too large for the Excel variant: download the plain .csv", status=413)
            await refusal.asgi_send(send)
            return
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        body = UTF8_BOM + (neutralised_csv(body) if neutralise else body)
        headers = [(name, value) for name, value in start["headers"] if name.lower() != b"content-length"]
        await send(dict(start, headers=[*headers, (b"content-length", str(len(body)).encode())]))
        await send({"type": "http.response.body", "body": body})

    return excel_send


def is_arbitrary_sql(scope, args: dict[str, str]) -> bool:
    """A visitor's own SQL (/kb?sql=..., /kb.json?sql=...), as opposed to a page, table or canned query."""
    return len(scope["path"].strip("/").split("/")) == 1 and bool(args.get("sql"))


def served_database(datasette):
    """The knowledge base, whatever name its file was served under (kb.db, site.db ...)."""
    return datasette.get_database()


# Exports must not starve the pages: CSV is made row by row in Python, in the one event loop every request
# shares. A process runs EXPORT_SLOTS exports at once, and while pages are being answered each export rests
# EXPORT_REST times as long as it worked, so pages and searches keep most of the process.
EXPORT_SLOTS = 1
EXPORT_REST = 1.0
EXPORT_WORK_SLICE = 0.05


def paced_export(send, others_waiting: Callable[[], bool] = lambda: True):
    """send for a CSV export: after every EXPORT_WORK_SLICE seconds of work, give the event loop back for as long,
    while others_waiting() says other requests are being answered (alone, an export runs at full speed).

    Datasette sends a CSV row by row; resting after each row would cost a timer tick per row, so work is summed.
    """
    clock = asyncio.get_running_loop().time
    last: float | None = None  # set by the first message: time spent waiting for a slot is not work
    worked = 0.0

    async def paced(message):
        nonlocal last, worked
        await send(message)
        now = clock()
        if message["type"] == "http.response.body" and message.get("more_body") and last is not None:
            worked += now - last
            if worked >= EXPORT_WORK_SLICE:
                if others_waiting():
                    await asyncio.sleep(worked * EXPORT_REST)
                worked, now = 0.0, clock()
        last = now

    return paced


@hookimpl
def asgi_wrapper(datasette):
    """The site is read-only: refuse every request that is not a read with 405, before Datasette sees it;
    answer repeated reads of the immutable file from memory."""

    def wrap(app):
        cached = response_cache(app)
        hosts = allowed_hosts(datasette)
        arbitrary_sql = asyncio.Semaphore(1)
        export_slot = asyncio.Semaphore(EXPORT_SLOTS)
        pages_in_flight = 0  # requests other than exports being answered now: exports rest only for them
        shapes = TableShapes()

        async def read_only(scope, receive, send):
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def with_headers(message):
                if message["type"] == "http.response.start":
                    present = {name.lower() for name, _ in message["headers"]}
                    extra = [header for header in SECURITY_HEADERS if header[0] not in present]
                    message = dict(message, headers=[*message["headers"], *extra])
                await send(message)

            if scope["method"] not in READ_METHODS:
                response = Response.text("regkb is read-only", status=405, headers={"Allow": "GET, HEAD"})
                await response.asgi_send(with_headers)
                return
            if scope["path"] == "/-/databases.json":  # Datasette's answer names the file's absolute path
                listing = [
                    {"name": name, "is_mutable": db.is_mutable, "hash": db.hash}
                    for name, db in datasette.databases.items()
                    if not name.startswith("_")
                ]
                await Response.json(listing).asgi_send(with_headers)
                return
            if host_name(scope) not in hosts:
                message = f"Bad request: host {host_name(scope)!r} is not served here (allowed_hosts)"
                await Response.text(message, status=400).asgi_send(with_headers)
                return
            args = query_arguments(scope)
            problem = await request_problem(datasette, scope, args, shapes)
            if problem:
                await Response.text(f"Bad request: {problem}", status=400).asgi_send(with_headers)
                return
            if is_csv_export(scope, args):  # never cached (is_csv_export says why)
                paced = paced_export(with_headers, lambda: pages_in_flight > 0)
                writer = for_excel(paced, neutralise=args.get("_dl") == "1") if args.get("_bom") == "1" else paced
                async with export_slot:  # one export at a time per process; the next one waits its turn
                    await app(scope, receive, writer)
                return
            if is_arbitrary_sql(scope, args):
                if arbitrary_sql.locked():  # one visitor's SQL at a time: the other SQL threads stay for pages
                    busy = Response.text(
                        "Busy: another SQL query is running; try again in a few seconds",
                        status=503,
                        headers={"Retry-After": "3"},
                    )
                    await busy.asgi_send(with_headers)
                    return
                async with arbitrary_sql:
                    await cached(scope, receive, with_headers)
                return
            nonlocal pages_in_flight
            pages_in_flight += 1
            try:
                await cached(scope, receive, with_headers)
            finally:
                pages_in_flight -= 1

        return read_only

    return wrap


@hookimpl
def prepare_connection(conn):
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQL_VALUE_BYTES)
    conn.create_function("in_force_on", 5, in_force_on, deterministic=True)
    conn.create_function("iso_day", 1, iso_day, deterministic=True)


@hookimpl
def filters_from_request(request, database, table, datasette):
    """`/kb/rules?_in_force_on=2024-01-01`: the rules in force on a date, as a table (facets, complete CSV)."""
    day = request.args.get("_in_force_on")
    if table != "rules" or day is None:
        return None
    try:
        iso_day(day, "_in_force_on")
    except ValueError as error:
        raise BadRequest(str(error)) from error
    return FilterArguments(
        ["in_force_on(effective_from, effective_to, status, last_verified, :in_force_day)"],
        params={"in_force_day": day},
        human_descriptions=[f"in force on {day}"],
    )


async def timeline_svg(datasette):
    result = await served_database(datasette).execute("select content, media_type from figures where name = 'timeline'")
    row = result.first()
    if row is None:
        return Response.text("no timeline has been built", status=404)
    return Response(
        row["content"],
        content_type=row["media_type"],
        headers={"Content-Security-Policy": SVG_POLICY, "Cache-Control": "max-age=300"},
    )


PENDING_SQL = """
select * from rule_lines where status in ('adopted', 'proposed')
  and not in_force_on(effective_from, effective_to, status, last_verified, :date)
  and coalesce(nullif(:domain, ''), domain) = domain
order by sort_order, country desc, rule_id
"""


async def compare_page(datasette, request):
    """/compare?date=YYYY-MM-DD&domain=...: the two countries side by side, question by question, as at a date.

    The lines come from the compare_rules canned query (metadata.yml), so the page, its CSV and JSON exports and
    the comparison table (the same selection on the build day) agree.
    """
    db = served_database(datasette)
    today = dt.date.today().isoformat()
    day = request.args.get("date") or today  # checked (YYYY-MM-DD) with the domain before this view runs
    domain = request.args.get("domain") or ""
    domains = await known_domains(db)
    canned = await datasette.get_canned_query(db.name, "compare_rules", None)
    lines = (await db.execute(canned["sql"], {"date": day, "domain": domain})).rows
    pending = (await db.execute(PENDING_SQL, {"date": day, "domain": domain})).rows if day >= today else []
    questions = (
        await db.execute(
            "select id, domain, label_en, question_en from dimensions "
            "where coalesce(nullif(:domain, ''), domain) = domain order by sort_order",
            {"domain": domain},
        )
    ).rows
    coverage = {
        (row["jurisdiction"], row["domain"]): row["complete_from"]
        for row in (await db.execute("select * from coverage")).rows
    }
    countries = [("TH", "Thailand"), ("PT", "Portugal (with EU law)")]
    sections = []
    for question in questions:
        answers = []
        for code, name in countries:
            starts = coverage.get((code, question["domain"]))
            answers.append(
                {
                    "code": code,
                    "name": name,
                    "lines": [
                        dict(line) for line in lines if line["dimension"] == question["id"] and line["country"] == code
                    ],
                    "pending": [
                        dict(line)
                        for line in pending
                        if line["dimension"] == question["id"] and line["country"] == code
                    ],
                    "coverage_warning": (
                        f"The data claims completeness for {name} on this domain from {starts} only: "
                        "rules before that date may be missing."
                    )
                    if starts and day < starts
                    else None,
                }
            )
        sections.append({"question": dict(question), "answers": answers})
    built = (await db.execute("select at, git_commit from ingest_runs order by id desc limit 1")).first()
    context = {
        "kb_name": db.name,
        "day": day,
        "today": today,
        "domain": domain,
        "domains": domains,
        "sections": sections,
        "built": dict(built) if built else {},
        "query": urllib.parse.urlencode({"date": day, "domain": domain}),
    }
    return Response.html(await datasette.render_template("compare.html", context, request=request))


MARK_START, MARK_END = "\ue000", "\ue001"  # private-use characters: never in the data, safe around an escape
# Relevance: bm25 with the columns weighted title 10, summary 5, the law's own words 3, context and Thai
# sub-words 1 (ingest/search_index.py SEARCH_COLUMNS gives the column order). Then, in this order:
# - results holding the words as typed (a known term as the phrase typed) score AS_TYPED_WEIGHT times those found
#   only through a glossary equivalent (every added
#   form scores on its own in bm25, so a rule naming a term three ways would otherwise beat one naming it once, but a rule with the equivalent in its title still ranks);
# - a rule or act that has ended, been replaced or rejected scores at CURRENT_LAW_WEIGHT of one that applies or
#   is pending: researchers ask what the law is first, and history stays listed below it.
# The snippet comes from the summary, the law's own words or the title, whichever holds a match, before the
# context column that sibling rules share (their instrument's notes), so results do not all show the same lines.
CURRENT_LAW_WEIGHT = 0.6
AS_TYPED_WEIGHT = 2.0
RULE_SNIPPET = """coalesce(
    nullif(snippet({fts}, 1, :start, :end, ' … ', 24), replace(snippet({fts}, 1, :start, :end, ' … ', 24), :start, '')),
    nullif(snippet({fts}, 2, :start, :end, ' … ', 24), replace(snippet({fts}, 2, :start, :end, ' … ', 24), :start, '')),
    nullif(snippet({fts}, 0, :start, :end, ' … ', 24), replace(snippet({fts}, 0, :start, :end, ' … ', 24), :start, '')),
    snippet({fts}, -1, :start, :end, ' … ', 24))"""
SEARCH_SQL_TEMPLATE = """
select 'rule' as kind, rules.id as id, rules.title_en as title, rules.jurisdiction as country, statuses.label as status,
  rules.status as status_id, rules.verification, rules.status_warning,
  {rule_snippet} as snippet,
  bm25(rules_search_fts, 10.0, 5.0, 3.0, 1.0, 1.0)
    * (case when rules.status in ('in_force', 'unconfirmed', 'adopted', 'proposed') then 1.0 else {weight} end) as score,
  rules.status not in ('in_force', 'unconfirmed') as ended_or_pending,
  rules_search_fts.rowid in (
    select rowid from rules_search_fts where rules_search_fts match fts_as_typed(:q)) as as_typed
from rules_search_fts
join rules_search on rules_search.key_rowid = rules_search_fts.rowid
join rules on rules.id = rules_search.id
join statuses on statuses.id = rules.status
where rules_search_fts match {match}(:q)
union all
select 'instrument', instruments.id, instruments.citation, instruments.jurisdiction, statuses.label,
  instruments.status, null, null, snippet(instruments_search_fts, -1, :start, :end, ' … ', 24),
  bm25(instruments_search_fts, 10.0, 5.0, 3.0, 1.0, 1.0)
    * (case when instruments.status in ('in_force', 'unconfirmed', 'adopted', 'proposed') then 1.0 else {weight} end),
  instruments.status not in ('in_force', 'unconfirmed'),
  instruments_search_fts.rowid in (
    select rowid from instruments_search_fts where instruments_search_fts match fts_as_typed(:q))
from instruments_search_fts
join instruments_search on instruments_search.key_rowid = instruments_search_fts.rowid
join instruments on instruments.id = instruments_search.id
join statuses on statuses.id = instruments.status
where instruments_search_fts match {match}(:q)
"""
SEARCH_SQL_TEMPLATE = (
    "select kind, id, title, country, status, status_id, verification, status_warning, snippet, as_typed, "
    "ended_or_pending, score * (case when as_typed then {typed_weight} else 1.0 end) as score from ("
    + SEARCH_SQL_TEMPLATE
    + ") order by score, ended_or_pending, kind desc, id limit 100"
)
SEARCH_SQL = SEARCH_SQL_TEMPLATE.format(
    rule_snippet=RULE_SNIPPET.format(fts="rules_search_fts"),
    weight=CURRENT_LAW_WEIGHT,
    match="fts_query",
    typed_weight=AS_TYPED_WEIGHT,
)
# A question ("VAT registration threshold for foreign digital services") whose words no rule holds all of: the
# page then lists the rules holding any of them, best first, under their own heading.
ANY_WORD_SQL = SEARCH_SQL_TEMPLATE.format(
    rule_snippet=RULE_SNIPPET.format(fts="rules_search_fts"),
    weight=CURRENT_LAW_WEIGHT,
    match="fts_any",
    typed_weight=AS_TYPED_WEIGHT,
)
FEW_RESULTS = 5
# The index holds Thai segmented into words; a snippet is shown without those spaces (a highlight mark may sit
# on either side). A space the text itself had between two Thai phrases goes too: the index cannot tell them apart.
THAI_SPACE = re.compile(
    r"(?:(?<=[\u0E00-\u0E7F])|(?<=[\u0E00-\u0E7F]\ue001)) (?=[\u0E00-\u0E7F]|\ue000[\u0E00-\u0E7F])"
)


def readable_snippet(snippet: str) -> Markup:
    """A snippet as the text reads: no segmenter spaces between Thai words, matches marked, everything escaped."""
    text = str(escape(THAI_SPACE.sub("", snippet or "")))
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def relevance_words(score: float, best: float) -> str:
    """bm25 as a person reads it, against the best result of the same search (scores are negative: lower is better)."""
    share = score / best if best else 0
    return (
        "best match"
        if share >= 0.999
        else "strong match"
        if share >= 0.66
        else "fair match"
        if share >= 0.33
        else "weak match"
    )


RELEVANCE_WORDS = ("best match", "strong match", "fair match", "weak match")


def cards(rows) -> list[dict]:
    """Result rows as the page shows them: readable snippets, relevance in words against the best of the list.

    The words never rise down the list: a result found only through a glossary equivalent, listed after those
    holding the words as typed, reads no better than the last of them.
    """
    best = min((row["score"] for row in rows), default=0)
    shown, floor = [], 0
    for row in rows:
        floor = max(floor, RELEVANCE_WORDS.index(relevance_words(row["score"], best)))
        shown.append(dict(row, snippet=readable_snippet(row["snippet"]), relevance=RELEVANCE_WORDS[floor]))
    return shown


async def search_page(datasette, request):
    """/search?q=...: result cards in relevance order (in-force first among equals), with what else was searched."""
    db = served_database(datasette)
    query = request.args.get("q") or ""
    results: list[dict] = []
    some_words: list[dict] = []
    also: str = ""
    if query.strip():
        try:
            rows = (await db.execute(SEARCH_SQL, {"q": query, "start": MARK_START, "end": MARK_END})).rows
            partial = []
            if len(rows) < FEW_RESULTS and len(query.split()) > 1:
                found = {(row["kind"], row["id"]) for row in rows}
                partial = [
                    row
                    for row in (await db.execute(ANY_WORD_SQL, {"q": query, "start": MARK_START, "end": MARK_END})).rows
                    if (row["kind"], row["id"]) not in found
                ]
            also = (await db.execute("select search_expansion(:q)", {"q": query})).first()[0] or ""
        except sqlite3.OperationalError as error:  # fts_query refused the text (too long): the visitor's mistake
            if "user-defined function" not in str(error):
                raise
            return Response.text("Bad request: q: the search text is too long", status=400)
        results, some_words = cards(rows), cards(partial)
    context = {"kb_name": db.name, "q": query, "results": results, "some_words": some_words, "also": also}
    return Response.html(await datasette.render_template("search.html", context, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/timeline\.svg$", timeline_svg), (r"^/compare$", compare_page), (r"^/search$", search_page)]


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    """Every page knows the served database's name; a rule's page lists its sources; the home page the history."""
    db = served_database(datasette)

    async def rule_sources():
        rule_id = request.url_vars.get("pks")
        rule = await db.execute(
            "select rules.*, instruments.title_native as instrument_title_native, instruments.official_url, "
            "instruments.eli as instrument_eli, instruments.celex as instrument_celex, "
            "dimensions.question_en, statuses.label as status_label, authorities.name_en as authority_name, "
            "authorities.abbreviation as authority_abbreviation "
            "from rules join instruments on instruments.id = rules.instrument_id "
            "join dimensions on dimensions.id = rules.dimension_id join statuses on statuses.id = rules.status "
            "left join authorities on authorities.id = rules.authority_id where rules.id = ?",
            [rule_id],
        )
        sources = await db.execute(
            "select url, title, publisher, kind, language, accessed, supports from sources "
            "where rule_id = ? order by id",
            [rule_id],
        )
        built = (await db.execute("select at, git_commit from ingest_runs order by id desc limit 1")).first()
        replaces = await db.execute("select id, title_en from rules where superseded_by = ? order by id", [rule_id])
        successor = await db.execute(
            "select title_en from rules where id = (select superseded_by from rules where id = ?)", [rule_id]
        )
        events = await db.execute(
            "select date, kind, label from events where rule_id = ? or (rule_id is null and instrument_id = "
            "(select instrument_id from rules where id = ?)) order by date, id",
            [rule_id, rule_id],
        )
        return {
            "rule_events": [dict(row) for row in events.rows],
            "rule_lifecycle": {
                "replaces": [dict(row) for row in replaces.rows],
                "successor_title": (successor.first() or {"title_en": None})["title_en"],
            },
            "kb_name": db.name,
            "rule_permalink": datasette.absolute_url(request, datasette.urls.row(db.name, "rules", rule_id)),
            "data_version": dict(built) if built else {},
            "rule": dict(rule.first() or {}),
            "rule_sources": [dict(row) for row in sources.rows],
        }

    async def recent_changes():
        history = await db.execute("select history from ingest_runs order by id desc limit 1")
        latest = history.first()
        result = await db.execute(
            "select at, table_name, record_id, action, description, git_commit from changes order by rowid desc limit 10"
        )
        return {
            "kb_name": db.name,
            "history_status": latest["history"] if latest else None,
            "recent_changes": [dict(row) for row in result.rows],
        }

    async def instrument_links():
        instrument_id = request.url_vars.get("pks")
        sql = (
            "select instruments.id, instruments.citation from amendments join instruments "
            "on instruments.id = amendments.{other} where amendments.{this} = ? order by instruments.id"
        )
        amends = await db.execute(sql.format(other="amends_id", this="instrument_id"), [instrument_id])
        amended_by = await db.execute(sql.format(other="instrument_id", this="amends_id"), [instrument_id])
        instrument = await db.execute(
            "select instruments.*, statuses.label as status_label from instruments "
            "join statuses on statuses.id = instruments.status where instruments.id = ?",
            [instrument_id],
        )
        its_rules = await db.execute(
            "select rules.id, rules.title_en, rules.status_warning, statuses.label as status_label from rules "
            "join statuses on statuses.id = rules.status where rules.instrument_id = ? order by rules.id",
            [instrument_id],
        )
        return {
            "instrument": dict(instrument.first() or {}),
            "instrument_rules": [dict(row) for row in its_rules.rows],
            "kb_name": db.name,
            "instrument_links": {
                "amends": [dict(row) for row in amends.rows],
                "amended_by": [dict(row) for row in amended_by.rows],
            },
        }

    async def coverage_rows():
        result = await db.execute(
            "select coverage.jurisdiction, domains.label as domain, coverage.complete_from, coverage.notes "
            "from coverage join domains on domains.id = coverage.domain "
            "order by coverage.jurisdiction desc, coverage.domain"
        )
        return {"kb_name": db.name, "coverage_rows": [dict(row) for row in result.rows]}

    if template == "pages/about.html":
        return coverage_rows
    if view_name == "row" and table == "rules":
        return rule_sources
    if view_name == "row" and table == "instruments":
        return instrument_links
    if view_name == "index":
        return recent_changes
    return {"kb_name": db.name}
