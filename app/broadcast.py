"""Push (``LINEWATCH_TRANSPORT=push``): one channel's tick built and serialised once, queued for every subscriber.

A :class:`Channel` is one line's stream (or the overview's).  Each round its producer asks the
channel's ``build(cursor, shared)`` (the page's own tick, callbacks/tick.py) for the delta since
the cursor of the previous round, serialises it once as a Server-Sent Event and queues those
bytes for every subscriber at that cursor.  A subscriber at another cursor (it reconnected with
``Last-Event-ID``, or just lost its queue) gets a tick from its cursor, built and serialised once
per such cursor (a thousand viewers reconnecting from one cursor cost one more tick): the readings
after it, or a reset when it fell more than a window behind (``build`` decides, as for polling).
So every subscriber's events continue its cursor without a gap or a duplicate.

Queues are bounded: a subscriber that does not keep up loses its queued events and gets a reset
at the next round, and nobody waits for it.  Building reads the store (it may block: run
:meth:`Channel.ticks` off the event loop); queueing (:meth:`Channel.deliver`) runs on the loop
that the subscribers read from.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

QUEUE_EVENTS = 32  # events a subscriber may have waiting (32 s at 1 s ticks) before it gets a reset instead
HEARTBEAT = b": heartbeat\n\n"  # an SSE comment: keeps proxies from closing an idle stream


class Build(Protocol):
    def __call__(self, cursor: int | None, shared: bool) -> dict:
        """The tick after ``cursor`` (None: a reset); ``shared``: it goes to every subscriber at that cursor."""


def sse_event(tick: dict) -> bytes:
    """``tick`` as one Server-Sent Event: ``id:`` its cursor (when it has one), ``data:`` its JSON."""
    cursor = tick.get("cursor")
    data = json.dumps(tick, separators=(",", ":"), allow_nan=False)
    return (f"id: {cursor}\n" if cursor is not None else "").encode() + b"data: " + data.encode() + b"\n\n"


def last_event_id(header: str | None) -> int | None:
    """The cursor a reconnecting EventSource names (``Last-Event-ID``), or None for a new subscriber."""
    try:
        return int(header) if header else None
    except ValueError:
        return None


class Subscriber:
    """One connection: the cursor of the last tick queued for it, and its queue of event bytes."""

    def __init__(self, cursor: int | None, size: int) -> None:
        self.cursor = cursor
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(size)

    def offer(self, event: bytes, cursor: int | None) -> bool:
        """Queue ``event`` (its tick ends at ``cursor``); when the queue is full, empty it and come back
        for a reset (cursor None) instead.  False when it overflowed."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.cursor = None
            return False
        self.cursor = cursor
        return True


class Channel:
    """One stream's subscribers and the cursor its shared ticks continue from."""

    def __init__(self, build: Build, queue_events: int = QUEUE_EVENTS) -> None:
        self.build = build
        self.queue_events = queue_events
        self.subscribers: set[Subscriber] = set()
        self.cursor: int | None = None  # where the last shared tick ended (None: none yet)
        self.overflows = 0

    def subscribe(self, cursor: int | None) -> Subscriber:
        """A new subscriber that has seen the readings up to ``cursor`` (None: none; it gets a reset)."""
        subscriber = Subscriber(cursor, self.queue_events)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def ticks(self, subscribers: list[Subscriber], shared: bool = True) -> tuple[dict | None, dict[int | None, dict]]:
        """This round's shared tick (None without ``shared``: a catch-up between rounds), and one tick for
        each other cursor ``subscribers`` are at (by that cursor).  Reads the store: call it with a copy
        of the subscribers, off the loop."""
        others = {s.cursor for s in subscribers} - {self.cursor}
        return (self.build(self.cursor, True) if shared else None), {c: self.build(c, False) for c in others}

    def behind(self) -> bool:
        """Whether a subscriber is at another cursor than the shared ticks (new, or reconnected)."""
        return any(s.cursor != self.cursor for s in self.subscribers)

    def deliver(self, shared: dict | None, others: dict[int | None, dict]) -> int:
        """Queue the round's ticks, each serialised once; return how many subscribers got one.  A
        subscriber that joined after ``ticks`` at a cursor this round has no tick for waits for the next round."""
        events = {cursor: (sse_event(tick), tick.get("cursor")) for cursor, tick in others.items()}
        if shared is not None:
            events[self.cursor] = (sse_event(shared), shared.get("cursor"))
            self.cursor = shared.get("cursor")
        queued = 0
        for subscriber in list(self.subscribers):
            if subscriber.cursor in events:
                if subscriber.offer(*events[subscriber.cursor]):
                    queued += 1
                else:
                    self.overflows += 1
        return queued

    def publish(self) -> int:
        """One round in the calling thread (tests; the server splits it, see :meth:`ticks`)."""
        return self.deliver(*self.ticks(list(self.subscribers)))

    def heartbeat(self) -> None:
        """Queue an SSE comment for every subscriber (one that cannot take it is full: it has events coming)."""
        for subscriber in self.subscribers:
            if not subscriber.queue.full():
                subscriber.queue.put_nowait(HEARTBEAT)
