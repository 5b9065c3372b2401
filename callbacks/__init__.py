"""Callback registration: functions that receive the app and what the callbacks need."""

from callbacks import tick, views

__all__ = ["register_all"]


def register_all(app, store, source_status, config, judge: tick.LineJudge) -> None:
    tick.register(app, store, source_status, config.window, judge)
    views.register(app)
