"""Callback registration: functions that receive the app and what the callbacks need."""

from callbacks import alarm_actions, alarm_list, tick, views

__all__ = ["register_all"]


def register_all(app, store, source_status, config, control_lines, book, actor) -> None:
    """``book``: the alarm book; ``actor()``: who acts on alarms in the current request."""
    tick.register(app, store, source_status, config.window, control_lines, book.summary)
    views.register(app)
    alarm_actions.register(app, book, actor)
    alarm_list.register(app, book)
