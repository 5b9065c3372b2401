"""Callback registration: functions that receive the app and what the callbacks need."""

from callbacks import tick, views

__all__ = ["register_all"]


def register_all(app, store, source_status, config, control_lines) -> None:
    tick.register(app, store, source_status, config.window, control_lines)
    views.register(app)
