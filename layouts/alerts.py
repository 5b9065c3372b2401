"""The latest-anomalies table (dash-ag-grid), filled by row transactions in the browser."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

# relative, so they stay under the page's URL prefix; the browser adds the window's time range
HISTORY_CSV = "api/v1/points.csv"
HISTORY_PARQUET = "api/v1/points.parquet"


def alerts_panel(labels: dict[str, str]) -> html.Div:
    return html.Div(className="lw-panel lw-alerts-panel", children=[
        html.Div(className="lw-panel-head", children=[
            html.H2(labels["alerts"], className="lw-panel-title"),
            html.Div(className="lw-exports", children=[
                dbc.Button(labels["export_csv"], id=ids.EXPORT_BUTTON, size="sm", color="secondary", outline=True),
                html.Span(labels["history"], className="lw-exports-label"),
                html.A("CSV", id=ids.EXPORT_HISTORY_CSV, href=HISTORY_CSV, download=True),
                html.A("Parquet", id=ids.EXPORT_HISTORY_PARQUET, href=HISTORY_PARQUET, download=True),
            ]),
        ]),
        dag.AgGrid(
            id=ids.ALERTS,
            className="lw-grid",
            rowData=[],
            getRowId="params.data.seq.toString()",
            columnDefs=[
                {"field": "time", "headerName": labels["col_time"], "sort": "desc", "flex": 2},
                {"field": "value", "headerName": labels["col_value"], "flex": 1,
                 "valueFormatter": {"function": "LineWatchFixed(params.value, 3)"}},
                {"field": "prob", "headerName": labels["col_prob"], "flex": 1,
                 "valueFormatter": {"function": "LineWatchFixed(params.value, 2)"},
                 "cellClassRules": {"lw-cell-critical": "params.value >= 0.9",
                                    "lw-cell-alarm": "params.value > params.data.limit"}},
                {"field": "seq", "headerName": labels["col_seq"], "flex": 1},
            ],
            defaultColDef={"sortable": True, "resizable": True},
            dashGridOptions={"localeText": {"noRowsToShow": labels["no_alerts"]}, "animateRows": False,
                             "suppressCellFocus": True},
            csvExportParams={"fileName": "linewatch-alerts.csv"},
            style={"height": "100%", "width": "100%"},
        ),
    ])
