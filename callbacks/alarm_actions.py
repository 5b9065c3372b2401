"""Operators act on alarms from the page: acknowledge the newest from the alarm bar, or acknowledge,
shelve and unshelve the alarm selected in the list.  Every outcome is one sentence in the page's language."""

from __future__ import annotations

import time
from typing import Callable

from dash import Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from app.alarm_book import AlarmBook, ImpossibleTransition, LedgerUnavailable, UnknownAlarm
from app.i18n import labels as labels_of
from app.policy import NotAnOperator
from callbacks.alarm_list import selected_id
from layouts import ids

ACTIONS = {ids.ALARM_ACK: "acknowledge", ids.ALARM_SHELVE: "shelve", ids.ALARM_UNSHELVE: "unshelve"}


def act(book: AlarmBook, actor: Callable[[], str], action: str, alarm_id: str | None, labels: dict[str, str],
        comment: str = "", reason: str = "", minutes=None) -> tuple[str, bool]:
    """Do ``action`` ("acknowledge", "shelve", "unshelve") on ``alarm_id`` as ``actor()``.

    Returns the sentence to show and whether the alarm changed; a refusal (not an operator, no such
    alarm, a transition its state does not allow, a shelf without reason or out of bounds) is a sentence too."""
    if not alarm_id:
        return labels["alarm_select_first"], False
    try:
        user = actor()
        if action == "acknowledge":
            book.acknowledge(alarm_id, user, comment.strip())
            return labels["alarm_done_acknowledge"].format(id=alarm_id), True
        if action == "unshelve":
            book.unshelve(alarm_id, user)
            return labels["alarm_done_unshelve"].format(id=alarm_id), True
        if not reason.strip():
            return labels["alarm_need_reason"], False
        if not _shelf_length(minutes, book.shelve_max_minutes):
            return labels["alarm_bad_minutes"].format(max=f"{book.shelve_max_minutes:g}"), False
        book.shelve(alarm_id, user, reason.strip(), minutes)
        return labels["alarm_done_shelve"].format(id=alarm_id, minutes=f"{minutes:g}"), True
    except NotAnOperator:
        return labels["alarm_not_operator"], False
    except UnknownAlarm:
        return labels["alarm_unknown"].format(id=alarm_id), False
    except ImpossibleTransition as refused:
        return labels["alarm_impossible"].format(id=alarm_id, state=labels[f"alarm_state_{refused.state.value}"]), False
    except LedgerUnavailable as exc:
        return labels["alarm_unavailable"].format(reason=exc), False


def _shelf_length(minutes, most: float) -> bool:
    return isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes <= most


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def register(app: Dash, book: AlarmBook, actor: Callable[[], str]) -> None:
    """``actor()`` names who acts in the current request (NotAnOperator when they may not)."""
    @app.callback(
        Output(ids.ALARM_BAR_MESSAGE, "children", allow_duplicate=True),
        Output(ids.ALARM_ACTED, "data", allow_duplicate=True),
        Input(ids.ALARM_ACK_NEWEST, "n_clicks"),
        State(ids.ALARM_SUMMARY, "data"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def acknowledge_newest(_clicks, summary, lang):
        newest = summary.get("newest") if isinstance(summary, dict) else None
        alarm_id = newest.get("id") if isinstance(newest, dict) else None
        message, acted = act(book, actor, "acknowledge", alarm_id if isinstance(alarm_id, str) else None,
                             labels_of(lang))
        return message, time.time() if acted else no_update

    @app.callback(
        Output(ids.ALARM_ACTION_MESSAGE, "children"),
        Output(ids.ALARM_ACTED, "data", allow_duplicate=True),
        Input(ids.ALARM_ACK, "n_clicks"),
        Input(ids.ALARM_SHELVE, "n_clicks"),
        Input(ids.ALARM_UNSHELVE, "n_clicks"),
        State(ids.ALARM_LIST, "selectedRows"),
        State(ids.ALARM_COMMENT, "value"),
        State(ids.ALARM_REASON, "value"),
        State(ids.ALARM_MINUTES, "value"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def act_on_selected(_ack, _shelve, _unshelve, selected, comment, reason, minutes, lang):
        action = ACTIONS.get(ctx.triggered_id)
        if action is None:
            raise PreventUpdate
        message, acted = act(book, actor, action, selected_id(selected), labels_of(lang),
                             _text(comment), _text(reason), minutes)
        return message, time.time() if acted else no_update
