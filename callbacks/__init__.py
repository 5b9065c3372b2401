"""Callback registration: functions that receive the app and what the callbacks need."""

from callbacks import alarm_actions, alarm_list, overview, pages, push, tick, time_range, views
from layouts.line_picker import line_options

__all__ = ["register_all"]


def register_all(app, runtime, control_lines, actor, has_line) -> push.ChannelBuilds:
    """``runtime``: store of every line, source, alarm book (app/runtime.py); ``control_lines(line)``:
    the line's SPC control lines; ``actor()``: who acts on alarms in the current request;
    ``has_line(id)``: whether a line's page exists (the HTTP policy's 404 asks the same).
    Returns the ticks of the push transport's channels (the same ticks the callbacks send)."""
    config, stores, book = runtime.config, runtime.stores, runtime.alarm_book
    pages.register(app, config, lambda: [line for line, _ in stores.items()], has_line, book.shelve_max_minutes)
    overview.register(app, runtime)
    line_ticks = tick.LineTicks(stores, runtime.source_status, control_lines, book.summary,
                                lambda: line_options(pages.known_lines(config, [line for line, _ in stores.items()])))
    tick.register(app, line_ticks, config.window)
    views.register(app)
    time_range.register(app)
    alarm_actions.register(app, book, actor)
    alarm_list.register(app, book)
    return push.ChannelBuilds(runtime, line_ticks, has_line)
