"""The plant overview: one tile per line, drawn in the browser from the overview tick (assets/linewatch_pages.js)."""

from __future__ import annotations

from dash import dcc, html

from app.alarm_lifecycle import PRIORITIES
from app.config import Config
from layouts import ids
from layouts.alarm_bar import priority_text


def overview_page(config: Config, labels: dict[str, str]) -> html.Div:
    return html.Div(className="lw-page", children=[
        dcc.Interval(id=ids.OVERVIEW_INTERVAL, interval=int(config.period * 1000), n_intervals=0),
        dcc.Store(id=ids.OVERVIEW_TICK),
        dcc.Store(id=ids.LABELS, data=labels),
        dcc.Store(id=ids.OVERVIEW_PRIORITIES, data={str(p): priority_text(labels, p) for p in PRIORITIES}),
        html.H2(labels["overview"], className="lw-overview-title"),
        html.Div(id=ids.OVERVIEW_TILES, className="lw-tiles", children=html.P(labels["status_waiting"])),
    ])
