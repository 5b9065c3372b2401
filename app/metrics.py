"""Prometheus text exposition at ``<prefix>metrics``: one registry per app, written by hand.

Ticks are measured around the ``_dash-update-component`` request in Flask hooks (the whole
server side of a tick: Dash dispatch, the callback, serialisation, compression), not inside
the callback.  Viewers are the distinct browsers that ticked in the last ``VIEWER_WINDOW_S``
seconds, told apart by client address + User-Agent: two tabs of one browser count once,
and so do identical browsers behind one NAT or an untrusted proxy (see README "Metrics").
"""

from __future__ import annotations

import hashlib
import threading
import time
from bisect import bisect_left

from flask import Blueprint, Flask, Response, g, request

from app.policy import viewer_key

VIEWER_WINDOW_S = 30.0
MAX_TRACKED_VIEWERS = 100_000
# seconds; the target is p95 < 100 ms at 200 viewers
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SOURCE_STATES = ("starting", "running", "reconnecting", "error", "finished", "stopped")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    def __init__(self, buckets=BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.total = 0.0
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        index = bisect_left(self.buckets, value)
        with self.lock:
            self.counts[index] += 1
            self.total += value

    def lines(self, name: str) -> list[str]:
        with self.lock:
            counts, total = list(self.counts), self.total
        out, running = [], 0
        for bound, count in zip([*map(_number, self.buckets), "+Inf"], counts):
            running += count
            out.append(f'{name}_bucket{{le="{bound}"}} {running}')
        out += [f"{name}_sum {_number(total)}", f"{name}_count {running}"]
        return out


class Viewers:
    """Last tick time per browser key; counts those seen within the window."""

    def __init__(self, window_s: float = VIEWER_WINDOW_S) -> None:
        self.window_s = window_s
        self.seen: dict[bytes, float] = {}
        self.lock = threading.Lock()

    def saw(self, key: str, now: float) -> None:
        digest = hashlib.blake2b(key.encode(errors="replace"), digest_size=8).digest()  # keep no raw addresses
        with self.lock:
            self.seen[digest] = now
            if len(self.seen) > MAX_TRACKED_VIEWERS:
                self._prune(now)

    def count(self, now: float) -> int:
        with self.lock:
            self._prune(now)
            return len(self.seen)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window_s
        for key in [k for k, t in self.seen.items() if t < cutoff]:
            del self.seen[key]


class Metrics:
    def __init__(self, runtime, tick_output: str) -> None:
        self.runtime = runtime
        self.tick_output = tick_output
        self.ticks = 0
        self.callback_errors = 0
        self.latency = Histogram()
        self.viewers = Viewers()
        self.lock = threading.Lock()

    def tick(self, duration_s: float, viewer: str, now: float) -> None:
        with self.lock:
            self.ticks += 1
        self.latency.observe(duration_s)
        self.viewers.saw(viewer, now)

    def callback_error(self) -> None:
        with self.lock:
            self.callback_errors += 1

    def exposition(self, now: float) -> str:
        runtime = self.runtime
        health = runtime.source.health()
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

        metric("linewatch_points_ingested_total", "counter",
               "Points accepted from outside sources (HTTP, MQTT, replay).", [("", runtime.ingestor.accepted)])
        metric("linewatch_points_rejected_total", "counter",
               "Points refused as invalid.", [("", runtime.ingestor.rejected)])
        try:
            lines = [(_label(line), store.stats()) for line, store in runtime.stores.items()]
            store_up = 1
        except RuntimeError:  # the store cannot answer now (StoreUnavailable: Redis away): metrics still do
            lines, store_up = [], 0
        metric("linewatch_store_up", "gauge", "1 when the store answers.", [("", store_up)])
        metric("linewatch_store_points", "gauge", "Points held in the store, per line.",
               [(f'{{line="{line}"}}', stats.count) for line, stats in lines])
        metric("linewatch_store_next_seq", "gauge", "Next sequence id, per line (grows with every point stored).",
               [(f'{{line="{line}"}}', stats.next_seq) for line, stats in lines])
        metric("linewatch_ticks_total", "counter", "Dashboard tick requests answered.", [("", self.ticks)])
        metric("linewatch_callback_errors_total", "counter",
               "Dash callback requests (ticks included) answered with a status >= 400.", [("", self.callback_errors)])
        out.append("# HELP linewatch_tick_duration_seconds Server time of a tick request, received to answered.")
        out.append("# TYPE linewatch_tick_duration_seconds histogram")
        out.extend(self.latency.lines("linewatch_tick_duration_seconds"))
        metric("linewatch_viewers", "gauge",
               f"Browsers (client address + User-Agent) that ticked in the last {VIEWER_WINDOW_S:g} s.",
               [("", self.viewers.count(now))])
        states = SOURCE_STATES if health.state in SOURCE_STATES else (*SOURCE_STATES, health.state)
        kind = _label(runtime.config.source)
        metric("linewatch_source_state", "gauge", "Source state: 1 for the current one.",
               [(f'{{source="{kind}",state="{_label(s)}"}}', int(s == health.state)) for s in states])
        ready = runtime.readiness()["ready"]
        metric("linewatch_ready", "gauge", "1 when /readyz answers 200.", [("", int(ready))])
        return "\n".join(out) + "\n"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def install(server: Flask, runtime, prefix: str, tick_output: str) -> Metrics:
    """The /metrics endpoint and the tick hooks on ``server``; returns the app's registry.

    ``tick_output`` names the tick callback's output (``id.property``): requests for it are ticks.
    """
    metrics = Metrics(runtime, tick_output)
    tick_path = prefix + "_dash-update-component"

    @server.before_request
    def start_timer():
        if request.path == tick_path:
            g.linewatch_tick_started = time.perf_counter()

    @server.after_request
    def observe(response):
        started = g.pop("linewatch_tick_started", None)
        if started is None:
            return response
        if response.status_code >= 400:  # the body may be unread (401) or too large (413): leave it
            metrics.callback_error()
            return response
        body = request.get_json(silent=True)  # cached: Dash has parsed it
        if isinstance(body, dict) and body.get("output") == metrics.tick_output:
            viewer = viewer_key(request.remote_addr, request.headers.get("User-Agent"))
            metrics.tick(time.perf_counter() - started, viewer, time.time())
        return response

    blueprint = Blueprint("linewatch_metrics", __name__)

    @blueprint.get("/metrics")
    def exposition():
        return Response(metrics.exposition(time.time()), content_type=CONTENT_TYPE)

    server.register_blueprint(blueprint, url_prefix=prefix.rstrip("/") or None)
    server.extensions["linewatch_metrics"] = metrics
    return metrics
