"""The alarm-performance tab: EEMUA 191 figures over the last 24 h and 7 days, and the bad actors.

``figures_view`` turns ``AlarmFigures.to_dict()`` of each period into tables; a figure beyond
its target is marked abnormal (the only coloured cells)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

EMPTY = "—"
PERIODS = (("perf_24h", 24 * 3600.0), ("perf_7d", 7 * 24 * 3600.0))  # label key, length in seconds


def duration_text(labels: dict[str, str], seconds: float | None) -> str:
    """12 s, 4.5 min, 3.2 h; a dash for none."""
    if seconds is None:
        return EMPTY
    if seconds < 120:
        return f"{seconds:.0f} {labels['seconds']}"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} {labels['minutes_short']}"
    return f"{seconds / 3600:.1f} {labels['hours_short']}"


def figure_rows(labels: dict[str, str], figures: dict) -> list[tuple[str, str, bool]]:
    """(label, value, abnormal) for each figure of one period."""
    target, flood = figures["target_per_10_min"], figures["flood_per_10_min"]
    ack = f"{duration_text(labels, figures['ack_median_s'])} / {duration_text(labels, figures['ack_p90_s'])}"
    return [
        (labels["perf_announced"], str(figures["announced"]), False),
        (labels["perf_rate"].format(target=f"{target:g}", flood=flood), f"{figures['per_10_min']:.2f}",
         figures["per_10_min"] > target),
        (labels["perf_peak"], str(figures["peak_10_min"]), figures["peak_10_min"] > flood),
        (labels["perf_flood"], f"{100 * figures['flood_share']:.1f} %", figures["flood_share"] > 0),
        (labels["perf_chattering"], str(figures["chattering"]), figures["chattering"] > 0),
        (labels["perf_stale"], str(figures["stale"]), figures["stale"] > 0),
        (labels["perf_ack"], ack, False),
    ]


def _cell(value: str, abnormal: bool) -> html.Td:
    return html.Td(value, className="lw-figure lw-abnormal" if abnormal else "lw-figure")


def _bad_actors(labels: dict[str, str], period: str, figures: dict) -> html.Div:
    title = html.H3(labels["perf_bad_actors"].format(period=period), className="lw-panel-subtitle")
    if not figures["bad_actors"]:
        return html.Div([title, html.P(labels["perf_no_alarms"], className="lw-muted")])
    return html.Div([title, dbc.Table(size="sm", className="lw-figures", children=[
        html.Thead(html.Tr([html.Th("#"), html.Th(labels["col_line"]), html.Th(labels["col_rule"]),
                            html.Th(labels["col_count"]), html.Th(labels["col_share"])])),
        html.Tbody([html.Tr([html.Td(rank), html.Td(actor["line"]), html.Td(actor["rule"]),
                             html.Td(actor["count"], className="lw-figure"),
                             html.Td(f"{100 * actor['share']:.0f} %", className="lw-figure")])
                    for rank, actor in enumerate(figures["bad_actors"], 1)]),
    ])])


def figures_view(labels: dict[str, str], periods: list[tuple[str, dict]]) -> html.Div:
    """One table of figures with a column per period (label, figures dict), then each period's bad actors."""
    columns = [figure_rows(labels, figures) for _, figures in periods]
    body = [html.Tr([html.Th(cells[0][0], scope="row")] + [_cell(value, abnormal) for _, value, abnormal in cells])
            for cells in zip(*columns)]
    return html.Div([
        dbc.Table(size="sm", className="lw-figures", children=[
            html.Thead(html.Tr([html.Th(labels["perf_figure"])] + [html.Th(period) for period, _ in periods])),
            html.Tbody(body)]),
        html.Div([_bad_actors(labels, period, figures) for period, figures in periods], className="lw-bad-actors"),
    ])


def performance_tab(labels: dict[str, str]) -> html.Div:
    return html.Div(className="lw-alarm-performance", children=[
        html.Div(className="lw-panel-head", children=[
            html.P(labels["perf_note"], className="lw-muted"),
            dbc.Button(labels["alarm_refresh"], id=ids.ALARM_FIGURES_REFRESH, size="sm", color="secondary",
                       outline=True, n_clicks=0)]),
        html.Div(id=ids.ALARM_FIGURES),
    ])
