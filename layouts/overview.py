"""The plant overview: one tile per line, drawn in the browser from the overview tick (assets/linewatch_pages.js)."""

from __future__ import annotations

from dash import dcc, html

from app.alarm_lifecycle import DEFAULT_SHELVE_MAX_MINUTES, PRIORITIES
from app.config import Config
from layouts import ids
from layouts.alarm_bar import alarm_bar, priority_text
from layouts.alarm_panel import alarm_panel
from layouts.sidebar import theme_switch


def overview_page(config: Config, labels: dict[str, str],
                  shelve_max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES) -> html.Div:
    """Every line's tile, with the alarm bar and alarm panel of every page (its tick brings both)."""
    return html.Div(className="lw-page", children=[
        dcc.Interval(id=ids.OVERVIEW_INTERVAL, interval=int(config.period * 1000), n_intervals=0),
        dcc.Store(id=ids.OVERVIEW_TICK),
        dcc.Store(id=ids.LABELS, data=labels),
        dcc.Store(id=ids.OVERVIEW_PRIORITIES, data={str(p): priority_text(labels, p) for p in PRIORITIES}),
        alarm_bar(labels),
        html.Div(className="lw-overview-bar", children=[
            html.H2(labels["overview"], className="lw-overview-title"), theme_switch(labels)]),
        html.P(labels["status_waiting"], id=ids.OVERVIEW_MESSAGE, className="lw-overview-message"),
        html.Div(id=ids.OVERVIEW_TILES, className="lw-tiles"),  # its tiles are drawn in the browser, in place
        alarm_panel(labels, shelve_max_minutes),
    ])
