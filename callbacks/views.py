"""Clientside fan-out: the tick's delta feeds the chart, KPI cards, alarm table and the value
slider's range in the browser (assets/linewatch.js), so a tick costs one server request whatever the views."""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State

from layouts import ids

NAMESPACE = "linewatch"


def _clientside(name: str) -> ClientsideFunction:
    return ClientsideFunction(namespace=NAMESPACE, function_name=name)


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
        Output(ids.KPI_VALUE, "children"),
        Output(ids.KPI_VALUE_DELTA, "children"),
        Output(ids.KPI_ANOMALIES, "children"),
        Output(ids.KPI_DEFECT_RATE, "children"),
        Output(ids.KPI_DEFECT_RATE_NOTE, "children"),
        Output(ids.KPI_THROUGHPUT, "children"),
        Output(ids.KPI_STATUS, "children"),
        Output(ids.KPI_STATUS_CARD, "className"),
        Output(ids.KPI_SOURCE_STATE, "children"),
        Output(ids.ERROR_BANNER, "children"),
        Output(ids.ERROR_BANNER, "is_open"),
        Input(ids.TICK, "data"),
        Input(ids.TICK_INTERVAL, "n_intervals"),
        Input(ids.PROB_THRESHOLD, "value"),
        Input(ids.VALUE_THRESHOLD, "value"),
        Input(ids.PAUSED, "data"),
        State(ids.TICK_INTERVAL, "interval"),
        State(ids.LABELS, "data"),
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
    app.clientside_callback(
        _clientside("theme"),
        Input(ids.THEME_SWITCH, "value"),
    )
    app.clientside_callback(
        "function (n) { return n > 0; }",
        Output(ids.ALERTS, "exportDataAsCsv"),
        Input(ids.EXPORT_BUTTON, "n_clicks"),
        prevent_initial_call=True,
    )
