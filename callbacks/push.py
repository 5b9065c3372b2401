"""Push (``LINEWATCH_TRANSPORT=push``): what each stream channel sends (app/broadcast.py), the very
ticks the page polls for otherwise (callbacks/tick.py, callbacks/overview.py)."""

from __future__ import annotations

import time
from typing import Callable

from app.broadcast import Build
from callbacks.overview import overview_payload, overview_tiles
from callbacks.tick import LineTicks


class ChannelBuilds:
    """``build(cursor, shared)`` of a line's channel or the overview's, for app/stream.py."""

    def __init__(self, runtime, line_ticks: LineTicks, has_line: Callable[[str], bool]) -> None:
        self.runtime = runtime
        self.line_ticks = line_ticks
        self.has_line = has_line

    def line(self, line_id: str) -> Build | None:
        """A line's ticks at the default window (a window change asks the polling callback once for
        its reset); None for a line that does not exist.  The alarm bar and the picker's lines ride
        on a shared tick when they changed since the previous one, on every other tick always (a
        subscriber who gets one is new or catching up)."""
        if not self.has_line(line_id):
            return None
        shown = {"alarm_bar": None, "lines": None}  # the versions the shared ticks brought so far
        window = self.runtime.config.window

        def build(cursor: int | None, shared: bool) -> dict:
            tick = self.line_ticks.tick(line_id, cursor, window, False, shown["alarm_bar"] if shared else None,
                                        shown["lines"] if shared else None, time.time())
            if shared:
                shown.update({part: tick[part]["version"] for part in shown if part in tick})
            return tick
        return build

    def overview(self) -> Build:
        """Every tile and the alarm bar, every tick (the overview has no cursor: each tick is whole)."""
        def build(_cursor: int | None, _shared: bool) -> dict:
            now = time.time()
            return overview_payload(self.runtime, lambda: (now, overview_tiles(self.runtime, now)), None, now)
        return build
