"""Looking back on a line's page: the range the address names and the browser callbacks that
load and draw it (assets/linewatch_range.js).

The address names the range (app/time_range.py); the picker writes it there.

The browser fetches the range from ``GET api/v1/points?line&from&to&max_points`` and its alarms
from ``GET api/v1/alarms`` itself: same origin and the same authorisation as the page (the HTTP
policy guards every path alike), the answer goes straight into one Plotly.react without a Dash
round trip, and a zoom or pan (the graph's relayoutData) loads the new span at its resolution.
"""

from __future__ import annotations

from datetime import date

from dash import ClientsideFunction, Dash, Input, Output, State
from dash.exceptions import PreventUpdate

from app.i18n import labels
from app.time_range import range_choice
from layouts import ids
from layouts.time_range import time_range_bar

NAMESPACE = "linewatchRange"


def _clientside(name: str) -> ClientsideFunction:
    return ClientsideFunction(namespace=NAMESPACE, function_name=name)


def bar_for_address(search: str | None, shown: dict | None, lang: str | None, today: date) -> list | None:
    """The range bar's children for the address's range, or None while the bar already shows it
    (the picker wrote the address itself)."""
    text = labels(lang)
    choice = range_choice(search, text)
    if shown and [shown.get(key) for key in ("mode", "start", "end")] == [choice.mode, choice.start, choice.end]:
        return None
    return time_range_bar(text, choice, today).children


def register(app: Dash) -> None:
    @app.callback(Output(ids.RANGE_BAR, "children"), Input(ids.URL, "search"), State(ids.RANGE, "data"),
                  State(ids.LANG, "data"), prevent_initial_call=True)
    def follow_address(search, shown, lang):
        """Back or forward in the browser: the bar, and so the chart, follows the address's range."""
        children = bar_for_address(search, shown, lang, date.today())
        if children is None:
            raise PreventUpdate
        return children

    app.clientside_callback(  # the picker writes the address and the range the chart shows
        _clientside("pick"),
        Output(ids.URL, "search"),
        Output(ids.RANGE, "data"),
        Output(ids.RANGE_DATES_BOX, "hidden"),
        Input(ids.RANGE_PICK, "value"),
        Input(ids.RANGE_DATES, "start_date"),
        Input(ids.RANGE_DATES, "end_date"),
        State(ids.URL, "search"),
        State(ids.RANGE, "data"),
    )
    app.clientside_callback(  # loads and draws the range; on zoom or pan, the new span
        _clientside("show"),
        Output(ids.RANGE_STATUS, "children"),
        Output(ids.RANGE_STATUS, "className"),
        Output(ids.EXPORT_HISTORY_CSV, "href", allow_duplicate=True),
        Output(ids.EXPORT_HISTORY_PARQUET, "href", allow_duplicate=True),
        Output(ids.EXPORT_HISTORY_LABEL, "children"),
        Input(ids.RANGE, "data"),
        Input(ids.CHART, "relayoutData"),
        Input(ids.PROB_THRESHOLD, "value"),
        Input(ids.VALUE_THRESHOLD, "value"),
        Input(ids.THEME_SWITCH, "value"),
        State(ids.CHART, "figure"),
        State(ids.LABELS, "data"),
        State(ids.LINE, "data"),
        State(ids.LINE_ID, "data"),
        State(ids.URL_PREFIX, "data"),
        State(ids.LANG, "data"),
        State(ids.EXPORT_HISTORY_CSV, "href"),
        State(ids.EXPORT_HISTORY_PARQUET, "href"),
        prevent_initial_call="initial_duplicate",  # a bookmarked range loads at once
    )
