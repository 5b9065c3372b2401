"""The one server callback per tick: send the browser the points after its cursor."""

from __future__ import annotations

import json
import logging
import time
import zlib
from typing import Callable

from dash import Dash, Input, Output, State, ctx

from app.alarms import RaisedAlarm
from app.config import MAX_WINDOW
from app.detectors.messages import template_fields
from app.sources import SourceHealth
from app.store import Store, StoreUnavailable
from layouts import ids

log = logging.getLogger(__name__)


def build_tick(store: Store, cursor: int | None, window: int, reset: bool, health: SourceHealth, now: float,
               control_lines: Callable[[], tuple[float, float, float] | None] = lambda: None) -> dict:
    """The delta for one browser: points after ``cursor``, or the whole window on a reset, with
    the alarms those points raised and the line's SPC control lines (centre, lcl, ucl).

    A reset happens when asked (the window changed), on the first tick (no cursor), and
    when the cursor cannot be continued: it fell more than a window behind, or it is
    ahead of the store (the server restarted without its history).

    Every tick crosses the wire, so it stays lean: sequence ids are contiguous and travel
    as ``first`` (the id of ``ts[0]``); ``reset`` and ``window`` come only with a reset,
    ``source`` only when it is not running, ``history`` (why it cannot be written) only when it
cannot, ``alarms`` and ``spc`` (centre, lcl, ucl) only when
    there are some.
    """
    stats = store.stats()
    newest = stats.next_seq - 1
    reset = reset or cursor is None or cursor > newest or newest - cursor > window
    batch = store.tail(window) if reset else store.since(cursor, limit=window)
    payload = {
        "at": round(now, 3),
        "cursor": int(batch.seq[-1]) if len(batch) else (newest if reset else cursor),
        "ts": batch.ts.round(3).tolist(),
        "value": batch.value.round(4).tolist(),
        "prob": batch.prob.round(4).tolist(),
        "rate": round(stats.rate, 1),
    }
    if len(batch):
        payload["first"] = int(batch.seq[0])
        raised = store.alarms_between(int(batch.seq[0]), int(batch.seq[-1]))
        if raised:
            payload["alarms"] = [alarm_payload(a) for a in raised]
        control = control_lines()
        if control is not None:
            payload["spc"] = [round(float(v), 6) for v in control]
    if reset:
        payload.update(reset=True, window=window)
    if health.state != "running":
        payload["source"] = health.state
    if health.message:
        payload["message"] = health.message
    if health.rejected:
        payload["rejected"] = health.rejected
    if health.history:
        payload["history"] = health.history
    return payload


def alarm_payload(alarm: RaisedAlarm) -> dict:
    """An alarm as the page gets it: with its message (English, as stored) also as a template key and
    figures when the detectors wrote it, so the page words it in its own language."""
    out = {"id": alarm.id, "seq": alarm.seq, "ts": round(alarm.raised_ts, 3), "rule": alarm.rule,
           "severity": alarm.severity, "value": alarm.value, "message": alarm.message}
    return {**out, **template_fields(alarm.message)}


NEWEST_KEYS = ("id", "line", "rule", "priority", "message")


def alarm_bar(summary: dict, seen: str | None) -> dict | None:
    """The alarm bar's part of a tick: the book's summary (``AlarmBook.summary``, its newest alarm
    trimmed to what the bar shows) with a version, or None when the page shows that version already."""
    newest = summary["newest"]
    if newest:
        newest = {**{key: newest[key] for key in NEWEST_KEYS}, "ts": newest["last_raised_ts"],
                  "announced": newest["announced_at"], **template_fields(newest["message"])}
    return versioned({"unacknowledged": summary["unacknowledged"], "newest": newest}, seen)


def versioned(part: dict, seen: str | None) -> dict | None:
    """A rarely-changing part of a tick with its version (a digest), or None when the page shows
    version ``seen`` already: the page sends back the version it shows, so nothing is kept per browser."""
    version = format(zlib.crc32(json.dumps(part, sort_keys=True).encode()), "08x")
    return None if version == seen else {**part, "version": version}


def error_tick(cursor: int | None, message: str, now: float) -> dict:
    """A tick that carries no points, keeps the cursor and tells the page what went wrong."""
    return {"at": round(now, 3), "cursor": cursor, "ts": [], "value": [], "prob": [], "error": message}


def store_unavailable_tick(cursor: int | None, message: str, now: float) -> dict:
    """An error tick that also says the store is away: the page shows "store unavailable"."""
    return {**error_tick(cursor, message, now), "store": "unavailable"}


def valid_window(value, fallback: int) -> int:
    """The window the viewer typed, or ``fallback`` while the input is empty or out of range."""
    if isinstance(value, (int, float)) and 10 <= value <= MAX_WINDOW:
        return int(value)
    return fallback


def waiting_tick(cursor: int | None, health: SourceHealth, now: float) -> dict:
    """The tick of a line without a store yet (no reading arrived): no points, the cursor kept."""
    return {"at": round(now, 3), "cursor": cursor, "ts": [], "value": [], "prob": [], "rate": 0.0,
            **({"source": health.state} if health.state != "running" else {})}


class LineTicks:
    """A line page's whole tick, as polling and push (callbacks/push.py) send it: ``build_tick`` and the
    parts riding on it.  ``stores``: every line's store (``find(line)``); ``alarm_summary``: the alarm
    book's summary, ``picker_options()``: the line picker's options (both ride on the tick when they
    changed from the versions the page shows, no request of their own)."""

    def __init__(self, stores, source_status: Callable[[], SourceHealth],
                 control_lines: Callable[[str], tuple[float, float, float] | None],
                 alarm_summary: Callable[[], dict], picker_options: Callable[[], list[dict]]) -> None:
        self.stores = stores
        self.source_status = source_status
        self.control_lines = control_lines
        self.alarm_summary = alarm_summary
        self.picker_options = picker_options

    def tick(self, line, cursor: int | None, window: int, reset: bool, alarm_version, lines_version,
             now: float) -> dict:
        """The tick of ``line``'s page after ``cursor``; an error tick (the page says why) when it fails."""
        try:
            store = self.stores.find(line) if isinstance(line, str) else None
            if store is None:
                payload = waiting_tick(cursor, self.source_status(), now)
            else:
                payload = build_tick(store, cursor, window, reset, self.source_status(), now,
                                     lambda: self.control_lines(line))
            bar = alarm_bar(self.alarm_summary(), alarm_version)
            if bar is not None:
                payload["alarm_bar"] = bar
            lines = versioned({"options": self.picker_options()},
                              lines_version if isinstance(lines_version, str) else None)
            if lines is not None:
                payload["lines"] = lines
            return payload
        except StoreUnavailable as exc:  # logged once per outage by the store; the page says so and keeps going
            return store_unavailable_tick(cursor, str(exc), now)
        except Exception as exc:  # the page shows it and keeps going
            log.exception("tick failed")
            return error_tick(cursor, f"{type(exc).__name__}: {exc}", now)


def register(app: Dash, line_ticks: LineTicks, default_window: int) -> None:
    """The line page's tick callback: polled by its Interval, and asked once when the window changes."""
    @app.callback(
        Output(ids.TICK, "data"),
        Input(ids.TICK_INTERVAL, "n_intervals"),
        Input(ids.WINDOW, "value"),
        State(ids.CURSOR, "data"),
        State(ids.ALARM_VERSION, "data"),
        State(ids.LINE_ID, "data"),
        State(ids.LINES_VERSION, "data"),
    )
    def tick(_n_intervals, window_value, cursor, alarm_version, line, lines_version):
        return line_ticks.tick(line, cursor, valid_window(window_value, default_window), ctx.triggered_id == ids.WINDOW,
                               alarm_version, lines_version, time.time())
