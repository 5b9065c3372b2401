"""The control panel: thresholds, update period, window, pause/resume, theme."""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.config import MAX_WINDOW, PERIODS, Config
from app.lines import LineSpec
from app.points import Thresholds
from layouts import ids


def control_panel(labels: dict[str, str], config: Config, line: LineSpec, thresholds: Thresholds) -> html.Aside:
    value_range = line_value_range(line, thresholds.value)
    return html.Aside(className="lw-panel lw-sidebar", children=[
        html.H2(labels["controls"], className="lw-panel-title"),
        _field(labels["prob_threshold"], dcc.Slider(
            id=ids.PROB_THRESHOLD, min=0, max=1, step=0.01, value=thresholds.prob,
            marks={0: "0", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1"}, updatemode="mouseup")),
        _field(with_unit(labels["value_threshold"], line.unit), dcc.Slider(
            id=ids.VALUE_THRESHOLD, **value_range,
            value=min(max(thresholds.value, value_range["min"]), value_range["max"]), updatemode="mouseup")),
        _field(labels["period"], dbc.RadioItems(
            id=ids.PERIOD, value=config.period, inline=True, className="lw-period",
            options=[{"label": f"{p:g} {labels['seconds']}", "value": p} for p in PERIODS])),
        _field(labels["window"], html.Div([
            dbc.Input(id=ids.WINDOW, type="number", min=10, max=MAX_WINDOW, step=1, value=config.window,
                      debounce=True, required=True),
            dbc.FormFeedback(labels["window_invalid"], type="invalid"),
        ])),
        dbc.Button(labels["pause"], id=ids.PAUSE_BUTTON, color="secondary", outline=True,
                   className="lw-pause w-100", n_clicks=0),
        theme_switch(labels),
    ])


def theme_switch(labels: dict[str, str]) -> html.Div:
    """Light or dark, on every page (the line page's controls, the overview): remembered by the browser.
    THEME holds the theme applied: an output beside the switch, so a remembered theme applies on load."""
    return html.Div([
        dcc.Store(id=ids.THEME),
        dbc.Switch(id=ids.THEME_SWITCH, label=labels["dark_theme"], value=False, persistence=True,
                   className="lw-theme-switch"),
    ])


def with_unit(label: str, unit: str) -> str:
    """``Value threshold`` -> ``Value threshold (°C)``; unchanged without a unit."""
    return f"{label} ({unit})" if unit else label


def line_value_range(line: LineSpec, value: float) -> dict:
    """The value slider's range: the line's specification limits when it has both (fixed), else
    around ``value`` and any one limit (the browser fits it to the data, assets/linewatch.js valueRange)."""
    if line.lsl is not None and line.usl is not None:
        return slider_range(line.lsl, line.usl)
    known = [v for v in (line.lsl, line.usl, value) if v is not None]
    return slider_range(min(known), max(known))


def _nice_step(x: float) -> float:
    """Smallest 1, 2 or 5 times a power of ten at least ``x``."""
    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= x * (1 - 1e-9))


def _round_to(value: float, step: float) -> float:
    return round(value, max(0, -math.floor(math.log10(step)) + 1))


def slider_range(lo: float, hi: float) -> dict:
    """Slider bounds for values ``lo..hi``: padded by a tenth, rounded to a nice unit; a step of
    about a hundredth of the range; marks at round numbers.  Mirrors assets/linewatch.js sliderRange."""
    span = hi - lo
    if not span > 0:
        span = max(abs(hi), 1) * 0.2
        lo, hi = lo - span / 2, hi + span / 2
    unit = _nice_step(span * 1.2 / 10)
    low = _round_to(math.floor((lo - span * 0.1) / unit + 1e-9) * unit, unit)
    high = _round_to(math.ceil((hi + span * 0.1) / unit - 1e-9) * unit, unit)
    step = _nice_step((high - low) / 100)
    major = _nice_step((high - low) / 5)
    marks = {}
    k = math.ceil(low / major)
    while k * major <= high + 1e-9 * major:
        mark = _round_to(k * major, major)
        marks[_mark_key(mark)] = _mark_key(mark)
        k += 1
    return {"min": low, "max": high, "step": _round_to(step, step), "marks": marks}


def _mark_key(value: float) -> str:
    """The number as JavaScript's String() writes it (70.0 -> "70"), so both sides agree."""
    return f"{value:g}" if value != int(value) else str(int(value))


def _field(label: str, control) -> html.Div:
    return html.Div(className="lw-field", children=[html.Label(label, className="lw-field-label"), control])
