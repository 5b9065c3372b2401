"""The alarm panel's reads: the list (filtered), the selected alarm's journal, the EEMUA 191 figures.

Each runs on demand (the panel opened, a filter or tab changed, an action, a refresh), never per tick."""

from __future__ import annotations

import time

from dash import Dash, Input, Output, State
from dash.exceptions import PreventUpdate

from app.alarm_book import AlarmBook, LedgerUnavailable, UnknownAlarm, matches
from app.alarm_lifecycle import AlarmRecord, JournalEntry
from app.i18n import alarm_message, labels as labels_of
from layouts import ids
from layouts.alarm_bar import priority_text
from layouts.alarm_list import ALL_LINES
from layouts.alarm_performance import PERIODS, figures_view

LIST_LIMIT = 500  # the newest alarms the list holds


def selected_id(selected) -> str | None:
    """The id of the list's selected row (``selectedRows``), or None; whatever a request sends."""
    row = selected[0] if isinstance(selected, list) and selected else None
    alarm_id = row.get("id") if isinstance(row, dict) else None
    return alarm_id if isinstance(alarm_id, str) else None


def alarm_row(record: AlarmRecord, labels: dict[str, str]) -> dict:
    """One list row; ``raised`` is the last raise's reading time (epoch seconds)."""
    count = f"{record.count} · {labels['alarm_chattering']}" if record.chattering else str(record.count)
    return {"id": record.id, "priority": record.priority, "priorityText": priority_text(labels, record.priority),
            "stateText": labels[f"alarm_state_{record.state.value}"],
            "unacknowledged": matches(record, "unacknowledged"), "line": record.line, "rule": record.rule,
            "ruleText": labels.get(f"rule_{record.rule.split('-')[0]}", record.rule),
            "raised": record.last_raised_ts, "countText": count, "message": alarm_message(record.message, labels),
            "acknowledgedBy": record.acknowledged_by}


def alarm_list(book: AlarmBook, line: str, state: str, priorities, labels: dict[str, str],
               limit: int = LIST_LIMIT) -> tuple[list[dict], list[dict]]:
    """Rows of the newest ``limit`` alarms passing the filters (``line`` ALL_LINES: every line), and
    the line filter's options (every line among those alarms, and the chosen one)."""
    records = book.query(limit=limit)
    wanted = set(p for p in priorities if isinstance(p, int)) if isinstance(priorities, list) else set()
    line = line if isinstance(line, str) else ALL_LINES
    every_line = line == ALL_LINES
    rows = [alarm_row(r, labels) for r in records
            if (every_line or r.line == line) and matches(r, state) and r.priority in wanted]
    lines = sorted({r.line for r in records} | (set() if every_line else {line}))
    return rows, ([{"label": labels["alarm_filter_all_lines"], "value": ALL_LINES}]
                  + [{"label": name, "value": name} for name in lines])


def journal_row(number: int, entry: JournalEntry, labels: dict[str, str]) -> dict:
    return {"id": str(number), "at": entry.at, "actionText": labels.get(f"alarm_action_{entry.action}", entry.action),
            "user": entry.user, "stateText": labels[f"alarm_state_{entry.state}"],
            "comment": alarm_message(entry.comment, labels) if entry.action == "raise" else entry.comment}


def alarm_journal(book: AlarmBook, alarm_id: str | None, labels: dict[str, str]) -> tuple[list[dict], str]:
    """The journal rows of ``alarm_id`` and the line naming it (priority, state), or the hint to select one."""
    if not alarm_id:
        return [], labels["alarm_select"]
    try:
        record, journal = book.get(alarm_id)
    except UnknownAlarm:
        return [], labels["alarm_unknown"].format(id=alarm_id)
    except LedgerUnavailable as exc:
        return [], labels["alarm_unavailable"].format(reason=exc)
    heading = (f"{record.id} · {priority_text(labels, record.priority)} · "
               f"{labels[f'alarm_state_{record.state.value}']}")
    return [journal_row(n, entry, labels) for n, entry in enumerate(journal)], heading


def performance(book: AlarmBook, labels: dict[str, str], now: float):
    """The figures of the last 24 h and 7 days up to ``now``."""
    return figures_view(labels, [(labels[key], book.figures(now - length, now).to_dict()) for key, length in PERIODS])


def register(app: Dash, book: AlarmBook) -> None:
    @app.callback(
        Output(ids.ALARM_LIST, "rowData"),
        Output(ids.ALARM_FILTER_LINE, "options"),
        Input(ids.ALARM_REFRESH, "data"),
        Input(ids.ALARM_FILTER_LINE, "value"),
        Input(ids.ALARM_FILTER_STATE, "value"),
        Input(ids.ALARM_FILTER_PRIORITY, "value"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def read_list(_refresh, line, state, priorities, lang):
        try:
            return alarm_list(book, line, state, priorities, labels_of(lang))
        except LedgerUnavailable:
            raise PreventUpdate from None  # the list stays as it was; the bar says the store is away

    @app.callback(
        Output(ids.ALARM_JOURNAL, "rowData"),
        Output(ids.ALARM_SELECTED, "children"),
        Input(ids.ALARM_LIST, "selectedRows"),
        Input(ids.ALARM_ACTED, "data"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def read_journal(selected, _acted, lang):
        return alarm_journal(book, selected_id(selected), labels_of(lang))

    @app.callback(
        Output(ids.ALARM_FIGURES, "children"),
        Input(ids.ALARM_TABS, "active_tab"),
        Input(ids.ALARM_PANEL, "is_open"),
        Input(ids.ALARM_FIGURES_REFRESH, "n_clicks"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def read_figures(tab, is_open, _refresh, lang):
        if not is_open or tab != "performance":
            raise PreventUpdate
        labels = labels_of(lang)
        try:
            return performance(book, labels, time.time())
        except LedgerUnavailable as exc:
            return labels["alarm_unavailable"].format(reason=exc)
