"""KPI cards: large numbers with units; the stream status in words and colour."""

from __future__ import annotations

from dash import html

from layouts import ids

EMPTY = "—"


def kpi_row(labels: dict[str, str], source_kind: str, unit: str = "") -> html.Div:
    """The cards; ``unit`` is the shown line's engineering unit (empty: none)."""
    return html.Div(className="lw-kpis", children=[
        _card(labels["kpi_value"], ids.KPI_VALUE, unit, ids.KPI_VALUE_DELTA, labels["delta"]),
        _card(labels["kpi_anomalies"], ids.KPI_ANOMALIES, labels["unit_events"]),
        _card(labels["kpi_defect_rate"], ids.KPI_DEFECT_RATE, "%", ids.KPI_DEFECT_RATE_NOTE, ""),
        _card(labels["kpi_throughput"], ids.KPI_THROUGHPUT, labels["unit_points_per_s"]),
        html.Div(id=ids.KPI_STATUS_CARD, className="lw-kpi lw-status-waiting", children=[
            html.Div(labels["kpi_status"], className="lw-kpi-label"),
            html.Div(labels["status_waiting"], id=ids.KPI_STATUS, className="lw-kpi-status", role="status"),
            html.Div([html.Span(f"{labels['source']}: {source_kind} · "),
                      html.Span(labels["source_starting"], id=ids.KPI_SOURCE_STATE)], className="lw-kpi-note"),
        ]),
    ])


def _card(label: str, value_id: str, unit: str, note_id: str | None = None, note: str = "") -> html.Div:
    children = [
        html.Div(label, className="lw-kpi-label"),
        html.Div([html.Span(EMPTY, id=value_id, className="lw-kpi-number"),
                  html.Span(unit, className="lw-kpi-unit")], className="lw-kpi-value"),
    ]
    if note_id:
        children.append(html.Div(note, id=note_id, className="lw-kpi-note"))
    return html.Div(className="lw-kpi", children=children)
