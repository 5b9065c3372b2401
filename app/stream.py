"""The push transport's endpoint (``LINEWATCH_TRANSPORT=push``): Server-Sent Events from the ASGI app.

``GET {prefix}api/v1/stream?line=LINE`` streams a line's ticks, ``GET {prefix}api/v1/stream?overview``
the plant overview's, as ``text/event-stream``: each event's ``id:`` is the cursor of its last
reading and its ``data:`` the tick's JSON; ``: heartbeat`` every HEARTBEAT_S.  A reconnecting
browser sends ``Last-Event-ID`` and continues from there (app/broadcast.py).

Per process, each channel with subscribers has one producer task: once a period it reads the
line's store once (in a worker thread: Redis blocks), queues the serialised tick for every
subscriber and ends when the last one left.  A subscriber who arrives between two rounds gets
its first tick (its reset, or the readings after its Last-Event-ID) at once.  The HTTP policy
(app/policy_asgi.py) wraps it as every other path: prefix, proxies, viewer access, headers; gzip
leaves ``text/event-stream`` alone.
When the server stops, every stream ends (the browsers reconnect elsewhere) so that the graceful
shutdown, which waits for open responses, does not wait for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from typing import Callable
from urllib.parse import parse_qs

import anyio
from starlette.datastructures import Headers

from app.broadcast import Build, Channel, last_event_id

log = logging.getLogger(__name__)

STREAM_PATH = "api/v1/stream"
HEARTBEAT_S = 15.0
RETRY_MS = 2000  # how long a browser waits before it reconnects (sent as the stream's first line)
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
           (b"x-accel-buffering", b"no")]  # nginx: pass each event on at once


class Streams:
    """Every channel this process serves: ``line_build(id)`` (None: no such line) and ``overview_build()``
    make a channel's ticks; ``period_s``: time between its rounds; ``pushed(page, n)`` counts the ticks
    a round queued (page: "line" or "overview"; app/metrics.py)."""

    def __init__(self, prefix: str, line_build: Callable[[str], Build | None], overview_build: Callable[[], Build],
                 period_s: float, pushed: Callable[[str, int], None], heartbeat_s: float = HEARTBEAT_S) -> None:
        self.path = prefix + STREAM_PATH
        self.line_build = line_build
        self.overview_build = overview_build
        self.period_s = period_s
        self.pushed = pushed
        self.heartbeat_s = heartbeat_s
        self.channels: dict[str, Channel] = {}
        self.arrivals: dict[str, asyncio.Event] = {}  # set when a subscriber joins a channel
        self.producers: set[asyncio.Task] = set()
        self.open: set[anyio.CancelScope] = set()  # every open stream's
        self._signals_chained = False

    def serves(self, scope) -> bool:
        return scope["type"] == "http" and scope["path"] == self.path

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _json(send, 405, "the stream is read with GET", [(b"allow", b"GET, HEAD")])
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
        line = (query.get("line") or [""])[0]
        if not line and "overview" not in query:
            await _json(send, 400, "name a line (?line=ID) or the plant overview (?overview)")
            return
        key = f"line:{line}" if line else "overview"
        build = self._builder(key)
        if build is None:
            await _json(send, 404, f"no such line: {line}")
            return
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        channel = self._channel(key, build)
        subscriber = channel.subscribe(last_event_id(Headers(scope=scope).get("last-event-id")))
        self.arrivals[key].set()
        try:
            async with anyio.create_task_group() as tasks:  # cancelled when the client leaves or the server stops
                self.open.add(tasks.cancel_scope)
                tasks.start_soon(_until_disconnected, receive, tasks.cancel_scope)
                await send({"type": "http.response.body", "body": f"retry: {RETRY_MS}\n\n".encode(),
                            "more_body": True})
                while True:
                    event = await subscriber.queue.get()
                    await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})  # the server stops: the browser reconnects
        except* OSError:  # the client went away while an event was on its way
            pass
        finally:
            self.open.discard(tasks.cancel_scope)
            channel.unsubscribe(subscriber)

    def end_all(self) -> None:
        """End every open stream (the server stops: its graceful shutdown waits for open responses)."""
        for stream in list(self.open):
            stream.cancel()

    def end_all_on_exit(self) -> None:
        """Chain ``end_all`` before the server's own handlers of SIGTERM and SIGINT: call it on the serving
        loop once the server has installed its handlers (uvicorn: at the lifespan startup or later)."""
        if self._signals_chained or threading.current_thread() is not threading.main_thread():
            return
        self._signals_chained = True
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if callable(previous):
                def chained(number, frame, previous=previous):
                    loop.call_soon_threadsafe(self.end_all)
                    previous(number, frame)
                signal.signal(signum, chained)

    def _builder(self, key: str) -> Build | None:
        """The ticks of channel ``key`` ("overview" or "line:ID"), or None when there is no such line."""
        channel = self.channels.get(key)
        if channel is not None:
            return channel.build
        return self.overview_build() if key == "overview" else self.line_build(key.removeprefix("line:"))

    def _channel(self, key: str, build: Build) -> Channel:
        """The channel of ``key``, with its producer started when it is new."""
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(build)
            self.arrivals[key] = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._produce(key, channel))
            self.producers.add(task)
            task.add_done_callback(self.producers.discard)
        return channel

    async def _produce(self, key: str, channel: Channel) -> None:
        """A round every period while the channel has subscribers (the first at once), a heartbeat every
        ``heartbeat_s``; between rounds, the ticks of subscribers who arrive (new, or reconnecting from
        their Last-Event-ID) at once.  Then the channel goes (a later subscriber starts a new one)."""
        beat = time.monotonic() + self.heartbeat_s
        arrived = self.arrivals[key]
        try:
            while channel.subscribers:
                started = time.monotonic()
                await self._round(key, channel, shared=True)
                if started >= beat:
                    channel.heartbeat()
                    beat = started + self.heartbeat_s
                while (left := started + self.period_s - time.monotonic()) > 0:
                    try:
                        await asyncio.wait_for(arrived.wait(), left)
                    except TimeoutError:
                        break
                    arrived.clear()
                    if channel.behind():
                        await self._round(key, channel, shared=False)
        finally:
            if self.channels.get(key) is channel:
                del self.channels[key], self.arrivals[key]

    async def _round(self, key: str, channel: Channel, shared: bool) -> None:
        try:
            queued = channel.deliver(*await anyio.to_thread.run_sync(channel.ticks, list(channel.subscribers), shared))
        except Exception:  # the builders answer errors as ticks; anything else: log, try next round
            log.exception("stream %s: round failed", key)
            return
        self.pushed("overview" if key == "overview" else "line", queued)


async def _until_disconnected(receive, scope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _json(send, status: int, message: str, headers=()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
