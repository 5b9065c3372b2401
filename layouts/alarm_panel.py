"""The alarm panel: an offcanvas over the dashboard with the alarm list and the alarm-performance tabs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.alarm_list import alarm_list_tab
from layouts.alarm_performance import performance_tab

LIST_REFRESH_MS = 15_000  # while the panel is open (callbacks/views.py keeps the interval off otherwise)


def alarm_panel(labels: dict[str, str], shelve_max_minutes: float) -> html.Div:
    return html.Div([
        dcc.Store(id=ids.ALARM_REFRESH),
        dcc.Store(id=ids.ALARM_ACTED),
        dcc.Interval(id=ids.ALARM_LIST_INTERVAL, interval=LIST_REFRESH_MS, disabled=True),
        dbc.Offcanvas(id=ids.ALARM_PANEL, title=labels["alarm_panel"], placement="end", is_open=False,
                      scrollable=True, className="lw-alarm-panel", children=[
                          dbc.Tabs(id=ids.ALARM_TABS, active_tab="list", children=[
                              dbc.Tab(alarm_list_tab(labels, shelve_max_minutes), tab_id="list",
                                      label=labels["alarm_tab_list"]),
                              dbc.Tab(performance_tab(labels), tab_id="performance",
                                      label=labels["alarm_tab_performance"]),
                          ]),
                      ]),
    ])
