"""The alarm table (dash-ag-grid): the window's alarms, newest first, filled by row transactions in the browser."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from app.points import DEFAULT_LINE
from layouts import ids

HISTORY_CSV = "api/v1/points.csv"  # under the URL prefix; the browser adds the window's time range
HISTORY_PARQUET = "api/v1/points.parquet"


def alarm_columns(labels: dict[str, str], unit: str) -> list[dict]:
    """Time, rule, severity in words (critical highlighted), value in the line's unit, message.

    Rows come from assets/linewatch.js alarmRow; ``level`` is the raw severity the highlight keys on."""
    value_header = f"{labels['col_value']} ({unit})" if unit else labels["col_value"]
    return [
        {"field": "time", "headerName": labels["col_time"], "sort": "desc", "flex": 2, "minWidth": 190},
        {"field": "rule", "headerName": labels["col_rule"], "flex": 1, "tooltipField": "ruleText"},
        {"field": "severity", "headerName": labels["col_severity"], "flex": 1,
         "cellClassRules": {"lw-cell-critical": "params.data.level === 'critical'",
                            "lw-cell-warning": "params.data.level === 'warning'"}},
        {"field": "value", "headerName": value_header, "flex": 1, "type": "rightAligned",
         "valueFormatter": {"function": f"LineWatchValue(params.value, {json.dumps(unit, ensure_ascii=False)})"}},
        {"field": "message", "headerName": labels["col_message"], "flex": 4, "tooltipField": "message"},
    ]


def alerts_panel(labels: dict[str, str], unit: str = "", prefix: str = "/", line: str = DEFAULT_LINE) -> html.Div:
    """``prefix``: LINEWATCH_URL_PREFIX (the history links hold on every page's address); ``line``: the shown line."""
    query = "?" + urlencode({"line": line})
    return html.Div(className="lw-panel lw-alerts-panel", children=[
        html.Div(className="lw-panel-head", children=[
            html.H2(labels["alerts"], className="lw-panel-title"),
            html.Div(className="lw-exports", children=[
                dbc.Button(labels["export_csv"], id=ids.EXPORT_BUTTON, size="sm", color="secondary", outline=True),
                html.Span(labels["history"], id=ids.EXPORT_HISTORY_LABEL, className="lw-exports-label"),
                html.A("CSV", id=ids.EXPORT_HISTORY_CSV, href=prefix + HISTORY_CSV + query, download=True),
                html.A("Parquet", id=ids.EXPORT_HISTORY_PARQUET, href=prefix + HISTORY_PARQUET + query, download=True),
            ]),
        ]),
        dag.AgGrid(
            id=ids.ALERTS,
            className="lw-grid",
            rowData=[],
            getRowId="params.data.id",
            columnDefs=alarm_columns(labels, unit),
            defaultColDef={"sortable": True, "resizable": True},
            dashGridOptions={"localeText": {"noRowsToShow": labels["no_alerts"]}, "animateRows": False,
                             "suppressCellFocus": True, "tooltipShowDelay": 300},
            csvExportParams={"fileName": "linewatch-alarms.csv"},
            style={"height": "100%", "width": "100%"},
        ),
    ])
