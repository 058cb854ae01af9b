"""Figures: pictures drawn from the built data at ingest time, as self-contained SVG.

Rendering happens offline (Altair spec -> vl-convert -> SVG), so the site never
fetches a script or a font to show them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from .models import Event, Figure

COUNTRY_NAMES = {"TH": "Thailand", "PT": "Portugal (with EU law)"}
DOMAIN_COLOURS = {"ott_registration": "#1f77b4", "ecommerce_tax": "#d95f02"}
# A lane stays readable up to a few dozen rows; beyond that the picture shows the most recent instruments.
# Labels are never cut (labelLimit=0): the picture is as wide as its longest citation and scrolls in its box.
MAX_INSTRUMENTS_PER_LANE = 40


# The drawing code is part of what a picture is drawn from: a change here must not reuse old drawings.
DRAWING_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def events_hash(events: list[Event], today: dt.date) -> str:
    """What the timeline is drawn from, as a hash: the same events, day (its "today" line) and drawing code give
    the same picture."""
    payload = json.dumps([event.model_dump(mode="json") for event in events], sort_keys=True)
    return hashlib.sha256((DRAWING_CODE + today.isoformat() + payload).encode("utf-8")).hexdigest()


def cache_dir() -> Path:
    """Where drawings are kept between builds: $XDG_CACHE_HOME/regkb (or ~/.cache/regkb)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "regkb" / "figures"


def drawn_timeline(events: list[Event], source_hash: str, today: dt.date) -> Figure:
    """The timeline for these events: from the drawing cache when drawn before (by any build), else drawn now.

    Drawing takes a second or two (vl-convert); a fresh kb.db, a fresh clone's
    first build or a test's build of a copy of data/ then costs a file read.
    """
    cached = cache_dir() / f"timeline-{source_hash}.json"
    try:
        return Figure.model_validate_json(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    figure = timeline_figure(events, source_hash, today)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(figure.model_dump_json(), encoding="utf-8")
        os.replace(partial, cached)
    except OSError:  # a read-only home: draw every time, never fail the build for a cache
        pass
    return figure


# The Thai font the site ships (static/fonts): a picture shown with <img> cannot use the page's web fonts, so it
# carries the font itself, and Thai labels read on a machine without a Thai font.
THAI_FONT = Path(__file__).resolve().parent.parent / "static" / "fonts" / "noto-sans-thai-thai-400-normal.woff2"


def with_thai_font(svg: str) -> str:
    """The SVG with Noto Sans Thai embedded as a fallback for Thai characters (system sans-serif first)."""
    font = base64.b64encode(THAI_FONT.read_bytes()).decode("ascii")
    style = (
        '<style>@font-face{font-family:"Noto Sans Thai";src:url(data:font/woff2;base64,'
        + font
        + ') format("woff2");unicode-range:U+0E01-0E5B;}text{font-family:sans-serif,"Noto Sans Thai";}</style>'
    )
    opening_end = svg.index(">", svg.index("<svg")) + 1
    return svg[:opening_end] + style + svg[opening_end:]


def timeline_figure(events: list[Event], source_hash: str, today: dt.date) -> Figure:
    """One lane per country, one row per instrument: its span in force and its dated events, coloured by domain,
    with a line at today."""
    # Imported here: drawing is skipped on rebuilds whose events are unchanged, and these imports cost ~0.4 s.
    import altair as alt
    import vl_convert

    frame = pd.DataFrame([event.model_dump(mode="json") for event in events])
    latest = frame.groupby(["jurisdiction", "instrument_id"])["date"].max().reset_index()
    shown = latest.sort_values("date", ascending=False).groupby("jurisdiction").head(MAX_INSTRUMENTS_PER_LANE)
    total = frame["instrument_id"].nunique()
    frame = frame[frame["instrument_id"].isin(shown["instrument_id"])].copy()
    frame["country"] = frame["jurisdiction"].map(COUNTRY_NAMES)
    frame["instrument"] = frame["citation"]
    frame["domain"] = frame["domain"].fillna("ott_registration")
    first_date = frame.groupby("instrument_id")["date"].transform("min")
    frame["order"] = first_date + frame["instrument_id"]
    last_day = max(frame["date"].max(), today.isoformat())
    spans = frame.groupby(["instrument_id", "instrument", "country", "domain", "order"], as_index=False).agg(
        start=("date", "min"), end=("date", "max")
    )
    ended = frame[frame.kind == "ended"].groupby("instrument_id")["date"].max()
    spans["end"] = spans.apply(lambda row: ended.get(row.instrument_id, last_day), axis=1)

    colour = alt.Color(
        "domain:N", title="Domain", scale=alt.Scale(domain=list(DOMAIN_COLOURS), range=list(DOMAIN_COLOURS.values()))
    )
    y = alt.Y("instrument:N", title=None, sort=alt.SortField("order"), axis=alt.Axis(labelLimit=0))
    time_scale = alt.Scale(domain=[frame["date"].min(), last_day])
    x = alt.X("date:T", title=None, scale=time_scale)

    def lane(code: str) -> alt.LayerChart | alt.FacetChart:
        span_layer = (
            alt.Chart(spans[spans.country == COUNTRY_NAMES[code]])
            .mark_bar(height=4, opacity=0.5)
            .encode(x=alt.X("start:T", title=None, scale=time_scale), x2="end:T", y=y, color=colour)
        )
        event_layer = (
            alt.Chart(frame[frame.country == COUNTRY_NAMES[code]])
            .mark_point(filled=True, size=45)
            .encode(
                x=x,
                y=y,
                color=colour,
                shape=alt.Shape("kind:N", title="Event", sort=["signed", "published", "effective", "ended"]),
                tooltip=["date:T", "label:N"],
            )
        )
        today_line = alt.Chart(pd.DataFrame({"date": [today.isoformat()], "label": [f"today {today}"]}))
        today_layers = [
            today_line.mark_rule(color="#a4161a", strokeDash=[4, 3]).encode(x=x),
            today_line.mark_text(color="#a4161a", align="right", dx=-3, dy=-6, baseline="top").encode(
                x=x, y=alt.value(0), text="label:N"
            ),
        ]
        return alt.layer(span_layer, event_layer, *today_layers).properties(title=COUNTRY_NAMES[code], width=620)

    lanes = [lane(code) for code in COUNTRY_NAMES]
    chart = alt.vconcat(*lanes).resolve_scale(y="independent").configure_title(anchor="start", fontSize=14)
    svg = with_thai_font(vl_convert.vegalite_to_svg(chart.to_json()))
    return Figure(
        name="timeline",
        media_type="image/svg+xml",
        content=svg,
        description="Timeline of Thailand's and Portugal's instruments: a lane per country, a row per instrument, "
        "its span in force and its dated events (signed, published, effective, ended), coloured by domain"
        + (f"; the {len(shown)} most recent of {total} instruments." if len(shown) < total else "."),
        source_hash=source_hash,
    )
