"""Page layout: pure functions of config and UI text that return component trees: the frame
(``build_layout``) and the pages rendered into it."""

from __future__ import annotations

from datetime import date

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.alarm_lifecycle import DEFAULT_SHELVE_MAX_MINUTES
from app.config import Config
from app.lines import LineSpec
from app.points import DEFAULT_LINE, Thresholds
from app.time_range import RangeChoice
from layouts import ids
from layouts.alarm_bar import alarm_bar
from layouts.alarm_panel import alarm_panel
from layouts.alerts import alerts_panel
from layouts.chart import chart_panel
from layouts.kpis import kpi_row
from layouts.line_picker import line_picker
from layouts.overview import overview_page
from layouts.sidebar import control_panel
from layouts.time_range import time_range_bar

__all__ = ["build_layout", "line_page", "no_such_line", "overview_page"]


def build_layout(config: Config, lang: str, labels: dict[str, str], other_lang: str) -> html.Div:
    """The page's frame for one viewer: header and the address; ``callbacks/pages.py`` renders the
    page the address names into it.  ``other_lang`` is offered as a switch in the header."""
    return html.Div(className="lw-app", lang=lang, children=[
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.LANG, data=lang),
        dcc.Store(id=ids.URL_PREFIX, data=config.url_prefix),
        html.Header(className="lw-header", children=[
            html.Div([html.H1(labels["title"], className="lw-title"),
                      html.Span(labels["subtitle"], className="lw-subtitle")]),
            *([transport_note(labels)] if config.transport == "push" else []),
            html.A(labels["language"], href=f"?lang={other_lang}", className="lw-lang", lang=other_lang),
        ]),
        html.Div(id=ids.PAGE, className="lw-page"),
    ])


def transport_note(labels: dict[str, str]) -> html.Span:
    """Pushed or polled: assets/linewatch_push.js says which (it starts polled, as the page does)."""
    return html.Span(labels["transport_polling"], id=ids.TRANSPORT, className="lw-transport",
                     **{"data-push": labels["transport_push"], "data-polling": labels["transport_polling"]})


def line_page(config: Config, labels: dict[str, str], line_id: str = DEFAULT_LINE, lines: list[LineSpec] = (),
              shelve_max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES, choice: RangeChoice = RangeChoice(),
              today: date | None = None) -> html.Div:
    """One line's dashboard (chart, KPIs, alarm table, controls) with a picker offering ``lines``;
    ``shelve_max_minutes`` is the alarm book's longest shelf; ``choice``: the time range the address
    names (Live by default), ``today`` the calendar's last day until it names others."""
    line = config.line(line_id)
    thresholds = Thresholds(config.prob_threshold,
                            config.value_threshold if line.value_threshold is None else line.value_threshold)
    return html.Div(className="lw-page", children=[
        dcc.Interval(id=ids.TICK_INTERVAL, interval=int(config.period * 1000), n_intervals=0),
        dcc.Store(id=ids.TICK),
        dcc.Store(id=ids.CURSOR),
        dcc.Store(id=ids.PAUSED, data=False),
        dcc.Store(id=ids.LABELS, data=labels),
        dcc.Store(id=ids.LINE_ID, data=line.id),
        dcc.Store(id=ids.LINE, data={"unit": line.unit, "lsl": line.lsl, "usl": line.usl}),
        line_picker(labels, line, list(lines), config.url_prefix),
        alarm_bar(labels),
        dbc.Alert(id=ids.ERROR_BANNER, color="danger", is_open=False, className="lw-error", dismissable=False),
        html.Div(className="lw-body", children=[
            control_panel(labels, config, line, thresholds),
            html.Main(className="lw-main", children=[
                kpi_row(labels, config.source, line.unit),
                time_range_bar(labels, choice, today or date.today()),
                chart_panel(labels, thresholds, line),
                alerts_panel(labels, line.unit, config.url_prefix, line.id),
            ]),
        ]),
        alarm_panel(labels, shelve_max_minutes),
    ])


def no_such_line(labels: dict[str, str], prefix: str) -> dbc.Alert:
    """The page for an address that names no line (the HTTP policy answers its load with 404),
    with a link to the overview (``prefix``: the app's URL prefix)."""
    return dbc.Alert(color="secondary", className="lw-no-line", children=[
        html.P(labels["no_such_line"]),
        html.A(labels["to_overview"], href=prefix, className="lw-to-overview"),  # a page load, as the tiles
    ])
