"""Page layout: pure functions of config and UI text that return component trees."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.alarm_lifecycle import DEFAULT_SHELVE_MAX_MINUTES
from app.config import Config
from app.points import DEFAULT_LINE, Thresholds
from layouts import ids
from layouts.alarm_bar import alarm_bar
from layouts.alarm_panel import alarm_panel
from layouts.alerts import alerts_panel
from layouts.chart import chart_panel
from layouts.kpis import kpi_row
from layouts.sidebar import control_panel


def build_layout(config: Config, lang: str, labels: dict[str, str], other_lang: str,
                 shelve_max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES) -> html.Div:
    """The whole page for one viewer; ``other_lang`` is offered as a switch in the header;
    ``shelve_max_minutes`` is the alarm book's longest shelf."""
    line = config.line(DEFAULT_LINE)
    thresholds = Thresholds(config.prob_threshold,
                            config.value_threshold if line.value_threshold is None else line.value_threshold)
    return html.Div(className="lw-app", lang=lang, children=[
        dcc.Interval(id=ids.TICK_INTERVAL, interval=int(config.period * 1000), n_intervals=0),
        dcc.Store(id=ids.TICK),
        dcc.Store(id=ids.CURSOR),
        dcc.Store(id=ids.PAUSED, data=False),
        dcc.Store(id=ids.LABELS, data=labels),
        dcc.Store(id=ids.LANG, data=lang),
        dcc.Store(id=ids.LINE, data={"unit": line.unit, "lsl": line.lsl, "usl": line.usl}),
        html.Header(className="lw-header", children=[
            html.Div([html.H1(labels["title"], className="lw-title"),
                      html.Span(labels["subtitle"], className="lw-subtitle")]),
            html.A(labels["language"], href=f"?lang={other_lang}", className="lw-lang", lang=other_lang),
        ]),
        alarm_bar(labels),
        dbc.Alert(id=ids.ERROR_BANNER, color="danger", is_open=False, className="lw-error", dismissable=False),
        html.Div(className="lw-body", children=[
            control_panel(labels, config, line, thresholds),
            html.Main(className="lw-main", children=[
                kpi_row(labels, config.source, line.unit),
                chart_panel(labels, thresholds, line),
                alerts_panel(labels, line.unit),
            ]),
        ]),
        alarm_panel(labels, shelve_max_minutes),
    ])
