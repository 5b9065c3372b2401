"""The line picker on a line's page: every known line by name, the shown one picked."""

from __future__ import annotations

from dash import dcc, html

from app.lines import LineSpec
from layouts import ids


def line_picker(labels: dict[str, str], shown: LineSpec, lines: list[LineSpec], prefix: str) -> html.Div:
    """``lines``: the lines to offer (the shown one among them); the line page's tick brings
    new ones (callbacks/tick.py) when readings arrive for another line.  A link leads back to
    the plant overview (``prefix``: the app's URL prefix)."""
    return html.Div(className="lw-line-bar", children=[
        dcc.Store(id=ids.LINES_VERSION),
        html.A(f"← {labels['overview']}", href=prefix, className="lw-to-overview"),  # a page load, as the tiles
        html.Label(labels["line_picker"], htmlFor=ids.LINE_PICKER, className="lw-line-label"),
        dcc.Dropdown(id=ids.LINE_PICKER, value=shown.id, clearable=False, searchable=True, className="lw-line-picker",
                     options=line_options(lines)),
    ])


def line_options(lines: list[LineSpec]) -> list[dict[str, str]]:
    """The picker's options: ``Oven 3 (°C)`` (the line's name with its unit, or its id) for each line."""
    return [{"label": f"{line.title} ({line.unit})" if line.unit else line.title, "value": line.id} for line in lines]
