"""``<prefix>metrics``: Prometheus exposition (prometheus_client) that adds up across processes.

- **Counters and the tick histogram.**  With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn with
  gunicorn.conf.py; README "Metrics") every process writes them into that directory and a
  scrape of any worker sums every process's, the exited ones' included; otherwise the app's
  own registry holds them.  The readings counters are the Ingestor's (app/ingest/counts.py);
  an ingest worker on another host publishes its own in Redis, added here.
- **Gauges** (store, source, readiness, viewers) are computed when scraped, by the process
  scraped (``LiveGauges``): never stored, so never summed across workers.

Ticks are measured around the ``_dash-update-component`` request in Flask hooks (the whole
server side of a tick: Dash dispatch, the callback, serialisation, compression), not inside
the callback; pushed ticks are counted by the push rounds (app/stream.py).  Viewers: app/viewers.py.
"""

from __future__ import annotations

import os
import time
from typing import Mapping

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from app.ingest.counts import read_published
from app.policy import viewer_key
from app.store import StoreUnavailable
from app.viewers import WINDOW_S, RedisViewers, Viewers

# seconds; the target is p95 < 100 ms at 200 viewers
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SOURCE_STATES = ("starting", "running", "reconnecting", "error", "finished", "stopped")


class Metrics:
    """What the request hooks (and app/websocket.py) count: ticks, their duration, failed callbacks, viewers.

    ``tick_outputs``: each tick callback's output (``id.property``) and the page it ticks for, the
    ``page`` label of the tick figures (``line``: a line's page, ``overview``: the plant overview)."""

    def __init__(self, tick_outputs: Mapping[str, str], viewers, registry: CollectorRegistry | None) -> None:
        self.tick_outputs = dict(tick_outputs)
        self.viewers = viewers
        self.ticks = Counter("linewatch_ticks_total", "Dashboard tick requests answered, per page kind.",
                             ["page"], registry=registry)
        self.latency = Histogram("linewatch_tick_duration_seconds", "Server time of a tick request, received to "
                                 "answered, per page kind.", ["page"], buckets=BUCKETS, registry=registry)
        for page in self.tick_outputs.values():  # every page kind shows from the start, at 0
            self.ticks.labels(page)
            self.latency.labels(page)
        self.callback_errors = Counter("linewatch_callback_errors_total", "Dash callback requests (ticks included) "
                                       "answered with a status >= 400.", registry=registry)
        self.pushed_ticks = Counter("linewatch_pushed_ticks_total", "Ticks queued for push subscribers "
                                    "(LINEWATCH_TRANSPORT=push: one per subscriber and round), per page kind.",
                                    ["page"], registry=registry)
        for page in ("line", "overview"):
            self.pushed_ticks.labels(page)

    def page_of(self, output) -> str | None:
        """The page a callback request with ``output`` ticks for, or None when it is not a tick."""
        return self.tick_outputs.get(output) if isinstance(output, str) else None

    def tick(self, page: str, duration_s: float, viewer: str, now: float) -> None:
        self.ticks.labels(page).inc()
        self.latency.labels(page).observe(duration_s)
        self.viewers.saw(viewer, now)

    def callback_error(self) -> None:
        self.callback_errors.inc()

    def pushed(self, page: str, subscribers: int) -> None:
        """A push round queued a tick for ``subscribers`` subscribers of a ``page`` kind (app/stream.py)."""
        self.pushed_ticks.labels(page).inc(subscribers)


class LiveGauges:
    """The gauges, computed at scrape time by the scraped process."""

    def __init__(self, runtime, viewers) -> None:
        self.runtime = runtime
        self.viewers = viewers

    def collect(self):
        runtime = self.runtime
        points = GaugeMetricFamily("linewatch_store_points", "Points held in the store, per line.", labels=["line"])
        next_seq = GaugeMetricFamily("linewatch_store_next_seq", "Next sequence id, per line (grows with every "
                                     "point stored).", labels=["line"])
        try:
            lines = [(line, store.stats()) for line, store in runtime.stores.items()]
            store_up = 1
        except RuntimeError:  # the store cannot answer now (StoreUnavailable: Redis away): metrics still do
            lines, store_up = [], 0
        for line, stats in lines:
            points.add_metric([line], stats.count)
            next_seq.add_metric([line], stats.next_seq)
        yield GaugeMetricFamily("linewatch_store_up", "1 when the store answers.", value=store_up)
        yield points
        yield next_seq
        viewers = GaugeMetricFamily("linewatch_viewers", f"Browsers (client address + User-Agent) that ticked in "
                                    f"the last {WINDOW_S:g} s.")
        count = self.viewers.count(time.time())
        if count is not None:
            viewers.add_metric([], count)
        yield viewers
        health = runtime.source.health()
        states = SOURCE_STATES if health.state in SOURCE_STATES else (*SOURCE_STATES, health.state)
        source = GaugeMetricFamily("linewatch_source_state", "Source state: 1 for the current one.",
                                   labels=["source", "state"])
        for state in states:
            source.add_metric([runtime.config.source, state], int(state == health.state))
        yield source
        yield GaugeMetricFamily("linewatch_ready", "1 when /readyz answers 200.",
                                value=int(runtime.readiness()["ready"]))


class WithPublished:
    """``counters``' families with the ingest worker's figures published in Redis added (app/ingest/counts.py).

    While Redis is away the last figures read stand in, so the totals do not fall back.
    """

    def __init__(self, counters, link) -> None:
        self.counters = counters
        self.link = link
        self.published: dict[str, float] = {}

    def collect(self):
        try:
            self.published = read_published(self.link)
        except StoreUnavailable:
            pass
        for family in self.counters.collect():
            extra = self.published.get(family.name, 0.0)
            if extra:
                total = family.name + "_total"
                family.samples = [sample._replace(value=sample.value + extra) if sample.name == total else sample
                                  for sample in family.samples]
            yield family


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode (README "Metrics"), or None: a registry per app."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def build_registry(runtime, tick_outputs: Mapping[str, str]) -> tuple[CollectorRegistry, Metrics]:
    """The registry a scrape reads, and the tick metrics to feed (``tick_outputs``: as ``Metrics``)."""
    registry = CollectorRegistry()
    viewers = RedisViewers(runtime.link) if runtime.config.store == "redis" else Viewers()
    shared = multiprocess_dir()
    metrics = Metrics(tick_outputs, viewers, registry=None if shared else registry)
    counters = MultiProcessCollector(None, shared) if shared else runtime.ingestor.counters
    registry.register(WithPublished(counters, runtime.link) if runtime.config.store == "redis" else counters)
    registry.register(LiveGauges(runtime, viewers))
    return registry, metrics


def install(server: Flask, runtime, prefix: str, tick_outputs: Mapping[str, str]) -> Metrics:
    """The /metrics endpoint and the tick hooks on ``server``; returns what the hooks feed.

    ``tick_outputs``: the tick callbacks' outputs (``id.property``) and their pages: requests for them are ticks.
    """
    registry, metrics = build_registry(runtime, tick_outputs)
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
        page = metrics.page_of(body.get("output")) if isinstance(body, dict) else None
        if page is not None:
            viewer = viewer_key(request.remote_addr, request.headers.get("User-Agent"))
            metrics.tick(page, time.perf_counter() - started, viewer, time.time())
        return response

    blueprint = Blueprint("linewatch_metrics", __name__)

    @blueprint.get("/metrics")
    def exposition():
        encode, content_type = choose_encoder(request.headers.get("Accept"))  # text, or OpenMetrics if asked
        return Response(encode(registry), content_type=content_type)

    server.register_blueprint(blueprint, url_prefix=prefix.rstrip("/") or None)
    server.extensions["linewatch_metrics"] = metrics
    return metrics
