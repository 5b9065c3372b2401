"""The line picker on a line's page: every known line by name, the shown one picked."""

from __future__ import annotations

from dash import dcc, html

from app.lines import LineSpec
from layouts import ids


def line_picker(labels: dict[str, str], shown: LineSpec, lines: list[LineSpec]) -> html.Div:
    """``lines``: the lines to offer (the shown one is offered even before its first reading)."""
    offered = lines if any(line.id == shown.id for line in lines) else [*lines, shown]
    return html.Div(className="lw-line-bar", children=[
        html.Label(labels["line_picker"], htmlFor=ids.LINE_PICKER, className="lw-line-label"),
        dcc.Dropdown(id=ids.LINE_PICKER, value=shown.id, clearable=False, searchable=True, className="lw-line-picker",
                     options=[{"label": _label(line), "value": line.id} for line in offered]),
    ])


def _label(line: LineSpec) -> str:
    """``Oven 3 (°C)``: the line's name with its unit, or its id."""
    return f"{line.title} ({line.unit})" if line.unit else line.title
