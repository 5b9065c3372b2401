"""Pages by address: ``/`` is the plant overview, ``/line/<id>`` that line's dashboard.

One server request renders a page when the address changes (dcc.Location); then each tick is
one request: the line page's reads the store of the line it names (callbacks/tick.py), the
overview's every line's tail (callbacks/overview.py)."""

from __future__ import annotations

from datetime import date
from typing import Callable, Iterable

from dash import ClientsideFunction, Dash, Input, Output, State

import layouts
from app.config import Config
from app.i18n import labels
from app.lines import LineSpec
from app.policy import OVERVIEW, route
from app.time_range import range_choice
from layouts import ids


def known_lines(config: Config, with_readings: Iterable[str]) -> list[LineSpec]:
    """The lines to offer: those in the lines file, in its order, then those with readings, by id."""
    listed = [line.id for line in config.lines]
    return [config.line(line_id) for line_id in [*listed, *sorted(set(with_readings) - set(listed))]]


def register(app: Dash, config: Config, line_ids: Callable[[], Iterable[str]], has_line: Callable[[str], bool],
             shelve_max_minutes: float) -> None:
    """``line_ids()``: the ids of the lines that have a store (readings arrived for them);
    ``has_line(id)``: whether a line's page exists (in the lines file or with readings)."""
    @app.callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"), State(ids.URL, "search"),
                  State(ids.LANG, "data"))
    def render(pathname, search, lang):
        """The page the address names; a line page opens in the time range its query names."""
        text = labels(lang)
        line_id = route(pathname, config.url_prefix)
        if line_id is None or (line_id != OVERVIEW and not has_line(line_id)):
            return layouts.no_such_line(text, config.url_prefix)
        if line_id == OVERVIEW:
            return layouts.overview_page(config, text, shelve_max_minutes)
        return layouts.line_page(config, text, line_id, known_lines(config, line_ids()), shelve_max_minutes,
                                 range_choice(search, text), date.today())

    app.clientside_callback(  # the tick brings the picker's lines when they changed (callbacks/tick.py)
        ClientsideFunction(namespace="linewatchPages", function_name="pickerLines"),
        Output(ids.LINE_PICKER, "options"),
        Output(ids.LINES_VERSION, "data"),
        Input(ids.TICK, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(  # the picker moves the address; the page follows without a reload
        ClientsideFunction(namespace="linewatchPages", function_name="lineAddress"),
        Output(ids.URL, "pathname"),
        Input(ids.LINE_PICKER, "value"),
        State(ids.LINE_ID, "data"),
        State(ids.URL_PREFIX, "data"),
    )
