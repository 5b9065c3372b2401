"""The control panel: thresholds, update period, window, pause/resume, theme."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.config import MAX_WINDOW, PERIODS, Config
from layouts import ids


def control_panel(labels: dict[str, str], config: Config) -> html.Aside:
    return html.Aside(className="lw-panel lw-sidebar", children=[
        html.H2(labels["controls"], className="lw-panel-title"),
        _field(labels["prob_threshold"], dcc.Slider(
            id=ids.PROB_THRESHOLD, min=0, max=1, step=0.01, value=config.prob_threshold,
            marks={0: "0", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1"}, updatemode="mouseup")),
        _field(labels["value_threshold"], dcc.Slider(
            id=ids.VALUE_THRESHOLD, min=0, max=100, step=1, value=config.value_threshold,
            marks={0: "0", 25: "25", 50: "50", 75: "75", 100: "100"}, updatemode="mouseup")),
        _field(labels["period"], dbc.RadioItems(
            id=ids.PERIOD, value=config.period, inline=True, className="lw-period",
            options=[{"label": f"{p:g} {labels['seconds']}", "value": p} for p in PERIODS])),
        _field(labels["window"], html.Div([
            dbc.Input(id=ids.WINDOW, type="number", min=10, max=MAX_WINDOW, step=1, value=config.window,
                      debounce=True, required=True),
            dbc.FormFeedback(labels["window_invalid"], type="invalid"),
        ])),
        dbc.Button(labels["pause"], id=ids.PAUSE_BUTTON, color="secondary", outline=True,
                   className="lw-pause w-100", n_clicks=0),
        dbc.Switch(id=ids.THEME_SWITCH, label=labels["dark_theme"], value=False, persistence=True,
                   className="lw-theme-switch"),
    ])


def _field(label: str, control) -> html.Div:
    return html.Div(className="lw-field", children=[html.Label(label, className="lw-field-label"), control])
