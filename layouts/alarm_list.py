"""The alarm list tab: filters, the alarms (dash-ag-grid), the selected alarm's actions and journal.

Rows come from callbacks/alarm_list.py; times are epoch seconds the browser formats in its own
time zone (``LineWatchTime``, assets/linewatch.js)."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from app.alarm_book import QUERY_STATES
from app.alarm_lifecycle import PRIORITIES
from layouts import ids
from layouts.alarm_bar import priority_text

TIME_FORMAT = {"function": "LineWatchTime(params.value)"}
DEFAULT_STATE = "all"
ALL_LINES = "*"  # the line filter's "every line": no line id starts with it (app/readings.py LINE_ID)


def list_columns(labels: dict[str, str]) -> list[dict]:
    """Priority (shape and text; coloured only while unacknowledged), state in words, line, rule,
    raise time (newest first), raises, message, who acknowledged."""
    colour = {f"lw-cell-p{p}": f"params.data.unacknowledged && params.data.priority === {p}" for p in PRIORITIES}
    return [
        {"field": "priorityText", "headerName": labels["col_priority"], "minWidth": 150, "cellClassRules": colour},
        {"field": "stateText", "headerName": labels["col_state"], "minWidth": 150,
         "cellClassRules": {"lw-cell-unacknowledged": "params.data.unacknowledged"}},
        {"field": "line", "headerName": labels["col_line"], "minWidth": 100},
        {"field": "rule", "headerName": labels["col_rule"], "minWidth": 100, "tooltipField": "ruleText"},
        {"field": "raised", "headerName": labels["col_raised"], "sort": "desc", "minWidth": 190,
         "valueFormatter": TIME_FORMAT, "filter": False},
        {"field": "countText", "headerName": labels["col_count"], "minWidth": 90},
        {"field": "message", "headerName": labels["col_message"], "flex": 3, "minWidth": 200,
         "tooltipField": "message"},
        {"field": "acknowledgedBy", "headerName": labels["col_ack_by"], "minWidth": 120},
    ]


def journal_columns(labels: dict[str, str]) -> list[dict]:
    return [
        {"field": "at", "headerName": labels["col_time"], "sort": "asc", "minWidth": 190,
         "valueFormatter": TIME_FORMAT},
        {"field": "actionText", "headerName": labels["col_action"], "minWidth": 130},
        {"field": "user", "headerName": labels["col_user"], "minWidth": 100},
        {"field": "comment", "headerName": labels["col_comment"], "flex": 2, "tooltipField": "comment"},
        {"field": "stateText", "headerName": labels["col_state"], "minWidth": 150},
    ]


def _grid(grid_id: str, columns: list[dict], empty: str, height: str, **options) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, className="lw-alarm-grid", rowData=[], columnDefs=columns, getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "flex": 1},
        dashGridOptions={"localeText": {"noRowsToShow": empty}, "animateRows": False, "tooltipShowDelay": 300,
                         **options},
        style={"height": height, "width": "100%"})


def _filters(labels: dict[str, str]) -> html.Div:
    return html.Div(className="lw-alarm-filters", children=[
        html.Div([dbc.Label(labels["alarm_filter_line"], html_for=ids.ALARM_FILTER_LINE),
                  dbc.Select(id=ids.ALARM_FILTER_LINE, value=ALL_LINES, size="sm",
                             options=[{"label": labels["alarm_filter_all_lines"], "value": ALL_LINES}])]),
        html.Div([dbc.Label(labels["alarm_filter_state"], html_for=ids.ALARM_FILTER_STATE),
                  dbc.Select(id=ids.ALARM_FILTER_STATE, value=DEFAULT_STATE, size="sm",
                             options=[{"label": labels[f"alarm_filter_{s}"], "value": s} for s in QUERY_STATES])]),
        html.Div([dbc.Label(labels["alarm_filter_priority"]),
                  dbc.Checklist(id=ids.ALARM_FILTER_PRIORITY, inline=True, value=list(PRIORITIES),
                                options=[{"label": priority_text(labels, p), "value": p} for p in PRIORITIES])]),
        dbc.Button(labels["alarm_refresh"], id=ids.ALARM_REFRESH_BUTTON, size="sm", color="secondary", outline=True,
                   n_clicks=0),
    ])


def _actions(labels: dict[str, str], shelve_max_minutes: float) -> html.Div:
    """Acknowledge with an optional comment; shelve with a reason for at most ``shelve_max_minutes``; unshelve."""
    return html.Div(className="lw-alarm-actions", children=[
        html.Div(labels["alarm_select"], id=ids.ALARM_SELECTED, className="lw-alarm-selected"),
        dbc.InputGroup(size="sm", children=[
            dbc.Input(id=ids.ALARM_COMMENT, placeholder=labels["alarm_comment"], maxLength=500),
            dbc.Button(labels["alarm_ack"], id=ids.ALARM_ACK, color="secondary", n_clicks=0)]),
        dbc.InputGroup(size="sm", children=[
            dbc.Input(id=ids.ALARM_REASON, placeholder=labels["alarm_reason"], maxLength=500),
            dbc.InputGroupText(labels["alarm_minutes"].format(max=f"{shelve_max_minutes:g}")),
            dbc.Input(id=ids.ALARM_MINUTES, type="number", min=1, max=shelve_max_minutes, step=1, value=60,
                      className="lw-minutes"),
            dbc.Button(labels["alarm_shelve"], id=ids.ALARM_SHELVE, color="secondary", n_clicks=0)]),
        dbc.Button(labels["alarm_unshelve"], id=ids.ALARM_UNSHELVE, size="sm", color="secondary", outline=True,
                   n_clicks=0),
        html.Div(id=ids.ALARM_ACTION_MESSAGE, className="lw-alarm-message", role="status"),
    ])


def alarm_list_tab(labels: dict[str, str], shelve_max_minutes: float) -> html.Div:
    return html.Div(className="lw-alarm-list", children=[
        _filters(labels),
        _grid(ids.ALARM_LIST, list_columns(labels), labels["alarm_no_rows"], "40vh",
              rowSelection={"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}),
        _actions(labels, shelve_max_minutes),
        html.H3(labels["alarm_journal"], className="lw-panel-subtitle"),
        _grid(ids.ALARM_JOURNAL, journal_columns(labels), labels["alarm_no_journal"], "22vh", suppressCellFocus=True),
    ])
