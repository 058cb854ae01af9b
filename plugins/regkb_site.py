"""The site's few pieces of custom code: the in-force test, the timeline picture, a rule's sources.

Everything else (facets, labels, canned queries, CSV) is Datasette's own,
configured in metadata.yml.
"""

from datasette import hookimpl
from datasette.filters import FilterArguments
from datasette.utils.asgi import Response

from ingest.models import in_force_on
from ingest.publish import response_cache

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@hookimpl
def asgi_wrapper(datasette):
    """The site is read-only: refuse every request that is not a read with 405, before Datasette sees it;
    answer repeated reads of the immutable file from memory."""

    def wrap(app):
        cached = response_cache(app)

        async def read_only(scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in READ_METHODS:
                response = Response.text("regkb is read-only", status=405, headers={"Allow": "GET, HEAD"})
                await response.asgi_send(send)
                return
            await cached(scope, receive, send)

        return read_only

    return wrap


@hookimpl
def prepare_connection(conn):
    conn.create_function("in_force_on", 5, in_force_on, deterministic=True)


@hookimpl
def filters_from_request(request, database, table, datasette):
    """`/kb/rules?_in_force_on=2024-01-01`: the rules in force on a date, as a table (facets, complete CSV)."""
    day = request.args.get("_in_force_on")
    if table != "rules" or not day:
        return None
    return FilterArguments(
        ["in_force_on(effective_from, effective_to, status, last_verified, :in_force_day)"],
        params={"in_force_day": day},
        human_descriptions=[f"in force on {day}"],
    )


async def timeline_svg(datasette):
    result = await datasette.get_database("kb").execute(
        "select content, media_type from figures where name = 'timeline'"
    )
    row = result.first()
    if row is None:
        return Response.text("no timeline has been built", status=404)
    return Response(
        row["content"],
        content_type=row["media_type"],
        headers={"Content-Security-Policy": SVG_POLICY, "Cache-Control": "max-age=300"},
    )


@hookimpl
def register_routes():
    return [(r"^/-/timeline\.svg$", timeline_svg)]


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    """A rule's page lists its sources; the home page shows the latest changes."""

    async def rule_sources():
        kb = datasette.get_database("kb")
        rule_id = request.url_vars.get("pks")
        rule = await kb.execute(
            "select rules.*, instruments.citation, instruments.title_native as instrument_title_native, "
            "instruments.official_url from rules join instruments on instruments.id = rules.instrument_id "
            "where rules.id = ?",
            [rule_id],
        )
        sources = await kb.execute(
            "select url, title, publisher, kind, language, accessed, supports from sources "
            "where rule_id = ? order by id",
            [rule_id],
        )
        return {"rule": dict(rule.first() or {}), "rule_sources": [dict(row) for row in sources.rows]}

    async def recent_changes():
        result = await datasette.get_database("kb").execute(
            "select at, table_name, record_id, action, field, old, new from changes order by id desc limit 10"
        )
        return {"recent_changes": [dict(row) for row in result.rows]}

    if view_name == "row" and table == "rules":
        return rule_sources
    if view_name == "index":
        return recent_changes
    return {}
