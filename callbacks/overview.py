"""The plant overview's tick: one server request brings every line's tile, ordered by attention."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Callable

import numpy as np
from cachetools import TTLCache, cached
from dash import ClientsideFunction, Dash, Input, Output, State

from app.alarm_lifecycle import PRIORITIES, State as AlarmState
from callbacks.pages import known_lines
from callbacks.tick import alarm_bar
from layouts import ids

log = logging.getLogger(__name__)

SPARK_READ = 600  # points read from the tail of each store: a minute at 10 readings/s
SPARK_POINTS = 30  # bars in a tile's sparkline
NO_ALARM = len(PRIORITIES) + 1  # sorts after every priority
STATUS_RANK = {"alarm": 0, "stale": 1, "live": 2, "waiting": 3}
SHARED_FOR_S = 0.5  # overview ticks within this span share one reading of the tiles, however many viewers
UNACKNOWLEDGED = (AlarmState.UNACKNOWLEDGED, AlarmState.RETURNED_UNACKNOWLEDGED)


def sparkline(values: np.ndarray) -> list[int]:
    """At most SPARK_POINTS bar heights 0..100 over the values' range: means of equal slices of the newest values."""
    if not len(values):
        return []
    bars = min(SPARK_POINTS, len(values))
    means = values[len(values) % bars:].reshape(bars, -1).mean(axis=1)
    low, high = means.min(), means.max()
    if high <= low:
        return [50] * bars
    return np.rint(100 * (means - low) / (high - low)).astype(int).tolist()


def overview_tiles(runtime, now: float) -> list[dict]:
    """Every line's tile (the lines file's lines and those with readings), those needing attention
    first: unacknowledged alarms by priority, then open ones, then stale streams, then by name.

    ``now``: the tick's time (how long a stale line has been quiet).  Reads only the tail of each store and the alarm book's open alarms."""
    open_by_line: dict[str, list] = defaultdict(list)
    for record in runtime.alarm_book.open_alarms():
        open_by_line[record.line].append(record)
    stores = dict(runtime.stores.items())
    ranked = []
    for line in known_lines(runtime.config, [*stores, *open_by_line]):
        store = stores.get(line.id)
        batch = store.tail(SPARK_READ) if store is not None else None
        alarms = open_by_line.get(line.id, [])
        waiting = [r for r in alarms if r.state in UNACKNOWLEDGED]
        tile = {"id": line.id, "name": line.title, "unit": line.unit, "unacknowledged": len(waiting),
                "open": {str(p): sum(r.priority == p for r in alarms) for p in PRIORITIES}}
        if batch is not None and len(batch):
            tile.update(value=round(float(batch.value[-1]), 4), ts=round(float(batch.ts[-1]), 3),
                        spark=sparkline(batch.value))
            live = store.stats().rate > 0  # readings arrived over the last RATE_SPAN_S
            tile["status"] = "alarm" if alarms else "live" if live else "stale"
            if not live:
                tile["quiet_s"] = max(0, round(now - tile["ts"]))  # for "Stale: no data for {s} s"
        else:
            tile["status"] = "alarm" if alarms else "waiting"
        attention = (min((r.priority for r in waiting), default=NO_ALARM), -len(waiting),
                     min((r.priority for r in alarms), default=NO_ALARM), STATUS_RANK[tile["status"]])
        ranked.append(((*attention, line.title.lower(), line.id), tile))
    ranked.sort(key=lambda pair: pair[0])
    return [tile for _, tile in ranked]


def overview_payload(runtime, read_tiles: Callable[[], tuple[float, list[dict]]], alarm_version: str | None,
                     now: float) -> dict:
    """The overview's tick: every tile (``read_tiles()``: when they were read, and they), and the alarm bar
    when its summary changed from ``alarm_version`` (as the line page's tick); an error the page shows."""
    try:
        read_at, tiles = read_tiles()
        payload = {"at": round(read_at, 3), "tiles": tiles}
        bar = alarm_bar(runtime.alarm_book.summary(), alarm_version)
    except Exception as exc:  # the page says so and keeps going
        log.exception("overview tick failed")
        return {"at": round(now, 3), "error": str(exc) or "the overview could not be read"}
    return {**payload, "alarm_bar": bar} if bar is not None else payload


def register(app: Dash, runtime, timer: Callable[[], float] = time.monotonic) -> None:
    """The overview page's one server callback per tick, and its clientside drawing of the tiles.

    Reading 100 lines' tiles takes milliseconds (bench/plant.py): the viewers of one process share
    a reading for SHARED_FOR_S (``timer``: the clock of that span)."""
    @cached(TTLCache(maxsize=1, ttl=SHARED_FOR_S, timer=timer),
            condition=threading.Condition())  # one reading at a time: the other viewers wait for it
    def shared_tiles() -> tuple[float, list[dict]]:
        now = time.time()
        return now, overview_tiles(runtime, now)

    @app.callback(Output(ids.OVERVIEW_TICK, "data"), Input(ids.OVERVIEW_INTERVAL, "n_intervals"),
                  State(ids.ALARM_VERSION, "data"))
    def overview_tick(_n_intervals, alarm_version):
        return overview_payload(runtime, shared_tiles, alarm_version if isinstance(alarm_version, str) else None,
                                time.time())

    app.clientside_callback(  # draws the tiles into OVERVIEW_TILES in place; says when there are none or an error
        ClientsideFunction(namespace="linewatchPages", function_name="tiles"),
        Output(ids.OVERVIEW_MESSAGE, "children"),
        Input(ids.OVERVIEW_TICK, "data"),
        State(ids.LABELS, "data"),
        State(ids.OVERVIEW_PRIORITIES, "data"),
        State(ids.URL_PREFIX, "data"),
        State(ids.OVERVIEW_MESSAGE, "children"),
        prevent_initial_call=True,
    )
