"""The time-range bar above a line's chart: Live, the last hour/day/week/30 days, or calendar days,
and one line saying what the chart shows (filled by assets/linewatch_range.js)."""

from __future__ import annotations

from datetime import date

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.time_range import CALENDAR, LIVE, PRESETS, RangeChoice, calendar_days
from layouts import ids


def range_options(labels: dict[str, str]) -> list[dict]:
    """Live first, then the presets from the shortest, then the calendar."""
    return [{"label": labels[f"range_{mode}"], "value": mode} for mode in (LIVE, *PRESETS, CALENDAR)]


def time_range_bar(labels: dict[str, str], choice: RangeChoice, today: date) -> html.Div:
    """``choice``: the range the address names (callbacks/time_range.py range_choice); ``today``:
    the calendar's last day until the address names others."""
    start, end = calendar_days(choice, today)
    bar = {"id": ids.RANGE_BAR, "className": "lw-range-bar", "role": "group", "aria-label": labels["range_label"]}
    return html.Div(**bar, children=[
        dcc.Store(id=ids.RANGE, data=choice.to_dict()),
        html.Span(labels["range_label"], className="lw-range-label"),
        dbc.RadioItems(id=ids.RANGE_PICK, options=range_options(labels), value=choice.mode, inline=True,
                       className="btn-group lw-range-pick", inputClassName="btn-check",
                       labelClassName="btn btn-sm btn-outline-secondary", labelCheckedClassName="active"),
        html.Div(id=ids.RANGE_DATES_BOX, className="lw-range-dates", hidden=choice.mode != CALENDAR, children=[
            dcc.DatePickerRange(id=ids.RANGE_DATES, start_date=start, end_date=end, display_format="YYYY-MM-DD",
                                month_format=labels["range_month_format"],
                                first_day_of_week=1, minimum_nights=0,
                                start_date_placeholder_text=labels["range_start"],
                                end_date_placeholder_text=labels["range_end"]),
        ]),
        html.Span(choice.problem or labels["range_live_note"], id=ids.RANGE_STATUS, role="status",
                  className="lw-range-status" + (" lw-range-error" if choice.problem else "")),
    ])
