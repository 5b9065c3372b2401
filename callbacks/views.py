"""Clientside fan-out: the tick's delta feeds the chart, KPI cards, alarm table, the value
slider's range (assets/linewatch.js) and the alarm bar (assets/linewatch_alarms.js) in the browser,
so a tick costs one server request whatever the views."""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State

from layouts import ids

NAMESPACE = "linewatch"
ALARMS_NAMESPACE = "linewatchAlarms"
KPI_OUTPUTS = ((ids.KPI_VALUE, "children"), (ids.KPI_VALUE_DELTA, "children"), (ids.KPI_ANOMALIES, "children"),
               (ids.KPI_DEFECT_RATE, "children"), (ids.KPI_DEFECT_RATE_NOTE, "children"),
               (ids.KPI_THROUGHPUT, "children"), (ids.KPI_STATUS, "children"), (ids.KPI_STATUS_CARD, "className"),
               (ids.KPI_SOURCE_STATE, "children"), (ids.ERROR_BANNER, "children"), (ids.ERROR_BANNER, "is_open"))


def _clientside(name: str, namespace: str = NAMESPACE) -> ClientsideFunction:
    return ClientsideFunction(namespace=namespace, function_name=name)


def register(app: Dash) -> None:
    app.clientside_callback(
        _clientside("cursor"),
        Output(ids.CURSOR, "data"),
        Input(ids.TICK, "data"),
    )
    app.clientside_callback(  # draws on the graph itself (one Plotly.react); the figure prop stays the template
        _clientside("chart"),
        [Output(ids.WAITING_OVERLAY, "hidden")],
        Input(ids.TICK, "data"),
        Input(ids.PROB_THRESHOLD, "value"),
        Input(ids.VALUE_THRESHOLD, "value"),
        Input(ids.THEME_SWITCH, "value"),
        State(ids.CHART, "figure"),
        State(ids.LABELS, "data"),
        State(ids.LINE, "data"),
        State(ids.WAITING_OVERLAY, "hidden"),  # sent only when it changes
    )
    app.clientside_callback(  # alarms are events of the detectors: the threshold sliders do not change them
        _clientside("alarms"),
        Output(ids.ALERTS, "rowData"),
        Output(ids.ALERTS, "rowTransaction"),
        Input(ids.TICK, "data"),
        State(ids.LABELS, "data"),
    )
    app.clientside_callback(
        _clientside("valueRange"),
        Output(ids.VALUE_THRESHOLD, "min"),
        Output(ids.VALUE_THRESHOLD, "max"),
        Output(ids.VALUE_THRESHOLD, "step"),
        Output(ids.VALUE_THRESHOLD, "marks"),
        Input(ids.TICK, "data"),
        State(ids.VALUE_THRESHOLD, "min"),
        State(ids.VALUE_THRESHOLD, "max"),
        State(ids.VALUE_THRESHOLD, "value"),
        State(ids.LINE, "data"),
    )
    app.clientside_callback(
        _clientside("kpis"),
        *(Output(component, prop) for component, prop in KPI_OUTPUTS),
        Input(ids.TICK, "data"),
        Input(ids.TICK_INTERVAL, "n_intervals"),
        Input(ids.PROB_THRESHOLD, "value"),
        Input(ids.VALUE_THRESHOLD, "value"),
        Input(ids.PAUSED, "data"),
        State(ids.TICK_INTERVAL, "interval"),
        State(ids.LABELS, "data"),
        *(State(component, prop) for component, prop in KPI_OUTPUTS),  # what they show: only changes are sent
    )
    app.clientside_callback(
        _clientside("historyLinks"),
        Output(ids.EXPORT_HISTORY_CSV, "href"),
        Output(ids.EXPORT_HISTORY_PARQUET, "href"),
        Input(ids.TICK, "data"),
        State(ids.EXPORT_HISTORY_CSV, "href"),
        State(ids.EXPORT_HISTORY_PARQUET, "href"),
    )
    app.clientside_callback(
        _clientside("pause"),
        Output(ids.PAUSED, "data"),
        Output(ids.TICK_INTERVAL, "disabled"),
        Output(ids.PAUSE_BUTTON, "children"),
        Input(ids.PAUSE_BUTTON, "n_clicks"),
        State(ids.LABELS, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function (period) { return Math.round(period * 1000); }",
        Output(ids.TICK_INTERVAL, "interval"),
        Input(ids.PERIOD, "value"),
        prevent_initial_call=True,
    )
    app.clientside_callback(  # with an output on the page, it also runs when the page appears (a remembered theme)
        _clientside("theme"),
        Output(ids.THEME, "data"),
        Input(ids.THEME_SWITCH, "value"),
    )
    app.clientside_callback(
        "function (n) { return n > 0; }",
        Output(ids.ALERTS, "exportDataAsCsv"),
        Input(ids.EXPORT_BUTTON, "n_clicks"),
        prevent_initial_call=True,
    )
    _register_alarms(app)


def _register_alarms(app: Dash) -> None:
    """The alarm bar from the tick; the alarm panel opens on its button and reads its list again
    (callbacks/alarm_list.py) only while open: on opening, a new summary, an action, Refresh, or every 15 s."""
    for tick in (ids.TICK, ids.OVERVIEW_TICK):  # a line page's tick, or the overview's
        app.clientside_callback(
            _clientside("bar", ALARMS_NAMESPACE),
            Output(ids.ALARM_VERSION, "data", allow_duplicate=True),
            Output(ids.ALARM_SUMMARY, "data", allow_duplicate=True),
            *(Output(ids.ALARM_COUNTS[p], "children", allow_duplicate=True) for p in sorted(ids.ALARM_COUNTS)),
            *(Output(ids.ALARM_BADGES[p], "className", allow_duplicate=True) for p in sorted(ids.ALARM_BADGES)),
            Output(ids.ALARM_NEWEST, "children", allow_duplicate=True),
            Output(ids.ALARM_ACK_NEWEST, "disabled", allow_duplicate=True),
            Output(ids.ALARM_BAR_MESSAGE, "children", allow_duplicate=True),
            Input(tick, "data"),
            State(ids.ALARM_SOUND, "value"),
            State(ids.LABELS, "data"),
            prevent_initial_call=True,  # the first tick fills it
        )
    app.clientside_callback(
        "function () { return true; }",
        Output(ids.ALARM_PANEL, "is_open"),
        Input(ids.ALARM_OPEN, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function (open) { return !open; }",
        Output(ids.ALARM_LIST_INTERVAL, "disabled"),
        Input(ids.ALARM_PANEL, "is_open"),
    )
    app.clientside_callback(
        _clientside("refresh", ALARMS_NAMESPACE),
        Output(ids.ALARM_REFRESH, "data"),
        Input(ids.ALARM_PANEL, "is_open"),
        Input(ids.ALARM_SUMMARY, "data"),
        Input(ids.ALARM_ACTED, "data"),
        Input(ids.ALARM_REFRESH_BUTTON, "n_clicks"),
        Input(ids.ALARM_LIST_INTERVAL, "n_intervals"),
        prevent_initial_call=True,
    )
