"""The alarm bar on every view: unacknowledged alarms by priority, the newest one, acknowledge, sound.

Priority is told by shape and text as well as colour (ISA-101), and a badge takes its colour
only while it counts alarms (assets/linewatch_alarms.js sets ``lw-prio-on``)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.alarm_lifecycle import PRIORITIES
from layouts import ids

PRIORITY_SHAPES = {1: "◆", 2: "▲", 3: "■", 4: "●"}  # a contract with assets/linewatch_alarms.js


def priority_text(labels: dict[str, str], priority: int) -> str:
    """``P1 ◆ Emergency``: the short name first, so the text sorts by priority."""
    return f"{labels['priority_short'].format(n=priority)} {PRIORITY_SHAPES[priority]} {labels[f'priority_{priority}']}"


def alarm_bar(labels: dict[str, str]) -> html.Section:
    """Counts and newest alarm are filled from the tick (the summary travels only when it changes)."""
    badges = [html.Span(id=ids.ALARM_BADGES[p], className=f"lw-prio lw-prio-{p}",
                        title=f"{priority_text(labels, p)} · {labels['alarm_unacknowledged']}", children=[
                            html.Span(PRIORITY_SHAPES[p], className="lw-prio-shape", **{"aria-hidden": "true"}),
                            html.Span(labels["priority_short"].format(n=p), className="lw-prio-name"),
                            html.Span("0", id=ids.ALARM_COUNTS[p], className="lw-prio-count")])
              for p in PRIORITIES]
    return html.Section(className="lw-alarm-bar", **{"aria-label": labels["alarm_bar"]}, children=[
        dcc.Store(id=ids.ALARM_VERSION),
        dcc.Store(id=ids.ALARM_SUMMARY),
        html.Span(labels["alarm_unacknowledged"], className="lw-alarm-bar-label"),
        html.Div(badges, className="lw-prio-badges"),
        html.Div(className="lw-alarm-newest", children=[
            html.Span(labels["alarm_newest"], className="lw-alarm-bar-label"),
            html.Span(labels["alarm_none"], id=ids.ALARM_NEWEST, className="lw-alarm-newest-text"),
        ]),
        dbc.Button(labels["alarm_ack_newest"], id=ids.ALARM_ACK_NEWEST, size="sm", color="secondary",
                   disabled=True, n_clicks=0),
        html.Span(id=ids.ALARM_BAR_MESSAGE, className="lw-alarm-message", role="status"),
        dbc.Switch(id=ids.ALARM_SOUND, label=labels["alarm_sound"], value=False, className="lw-alarm-sound"),
        dbc.Button(labels["alarm_open"], id=ids.ALARM_OPEN, size="sm", color="secondary", outline=True, n_clicks=0),
    ])
