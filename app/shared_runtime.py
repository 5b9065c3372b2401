"""A web process's running parts with ``LINEWATCH_STORE=redis``: it reads, the ingest worker records.

The source and the recorder run in the ingest worker (``python -m app.ingest``); here the
store is Redis, the source's health is the worker's heartbeat, and the "recorder" serves
alerts, alarms and history; HTTP ingest goes to the worker (app/store/redis/inbox.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from app.alarm_book import AlarmBook, MemoryLedger
from app.config import Config
from app.points import DEFAULT_LINE, Thresholds
from app.recorder import Recorder
from app.sources import SourceHealth
from app.sources.base import READY_STATES
from app.store import StoreUnavailable
from app.ingest.counts import ReadingCounters
from app.readings import Readings
from app.store.redis import control, inbox
from app.store.redis.link import RedisLink
from app.store.redis.stream import RedisLineStores

RECORD_WAIT_S = 5.0  # HTTP ingest waits this long for the worker to take the readings, and as long to record them
WORKER_HEALTH_CACHE_S = 0.5
CONTROL_LINES_CACHE_S = 0.5  # the worker publishes them as often; a tick does not ask Redis for them


class SharedRuntime:
    """A reader of the Redis streams; source and recorder run in ``python -m app.ingest``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.link = RedisLink.from_url(config.redis_url)  # connects on first use, in the serving process
        self.stores = RedisLineStores(self.link, config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)
        self.recorder = SharedHistory(config, self.link, self.stores)
        self.ingestor = WorkerIngestor(self.link)
        self.source = WorkerSource(self.link)
        self.alarm_book = AlarmBook(MemoryLedger(), design=config.alarm_design,  # this process's only, until
                                    shelve_max_minutes=config.shelve_max_minutes)  # the book is shared through Redis

    def ensure_started(self) -> None:
        """Nothing to start: the ingest worker runs the source and the recorder."""

    def stop(self) -> None:
        """Nothing to stop: the ingest worker records."""

    def source_status(self) -> SourceHealth:
        return self.source.health()  # the worker's and every web process's refusals

    def readiness(self) -> dict:
        """Ready when Redis answers (and is filled) and the ingest worker's source is fine."""
        source = {"kind": self.config.source, "runs_in": "python -m app.ingest"}
        store = {"kind": "redis", "redis": self.link.where}
        try:
            stats = self.store.stats()
            gaps = control.read_gaps(self.link)
        except StoreUnavailable as exc:
            store.update(state="unavailable", message=str(exc))
            return {"ready": False, "source": source, "store": store}
        health = self.source.health()
        source.update(state=health.state, message=health.message, rejected=health.rejected)
        store.update(state="ok", points=stats.count, next_seq=stats.next_seq, rate=round(stats.rate, 2))
        if gaps:
            store["gaps"] = gaps
        history = {"state": "unwritable", "message": health.history} if health.history else {"state": "ok"}
        return {"ready": health.state in READY_STATES and not health.history, "source": source, "store": store,
                "history": history}


class WorkerSource:
    """The source as a web process sees it: the ingest worker's heartbeat."""

    name = "worker"

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._cached: tuple[float, SourceHealth] | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def health(self) -> SourceHealth:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < WORKER_HEALTH_CACHE_S:
            return self._cached[1]
        try:
            fields, web_rejected = control.read_worker(self.link)
        except StoreUnavailable as exc:
            return SourceHealth("error", f"store unavailable: {exc}")
        if not fields:
            health = SourceHealth("error", "no ingest worker: start `python -m app.ingest` (the Procfile's worker)",
                                  web_rejected)
        else:
            health = SourceHealth(fields.get("state", "error"), fields.get("message", ""),
                                  int(fields.get("rejected", 0)) + web_rejected, fields.get("history", ""))
        self._cached = (now, health)
        return health


class WorkerIngestor:
    """HTTP ingest in a web process: the readings go to the ingest worker, which judges, stores,
    records and counts them (app/store/redis/inbox.py); refusals are counted here and in Redis for
    every process to show."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.rejected = 0
        self.counters = ReadingCounters()  # only refusals: the worker counts what it stores
        self._lock = threading.Lock()
        self._control: dict[str, tuple[float, tuple[float, float, float] | None]] = {}  # line -> (read at, lines)

    def ingest(self, readings: Readings, durable: bool = True, keys: Sequence[str] = ()) -> dict[str, list[int]]:
        """Stored and on disk (in the worker) on return, whatever ``durable`` says; the ids per line.
        The worker checks and records the idempotency ``keys``."""
        return inbox.deliver(self.link, readings, RECORD_WAIT_S, keys)

    def count_rejected(self, n: int = 1) -> None:
        with self._lock:
            self.rejected += n
        self.counters.rejected.inc(n)
        try:
            control.count_rejected(self.link, n)
        except StoreUnavailable:
            pass

    def control_lines(self, line: str) -> tuple[float, float, float] | None:
        """The SPC control lines the worker's detector of ``line`` published, if it has SPC rules
        (read from Redis at most every ``CONTROL_LINES_CACHE_S``)."""
        now = time.monotonic()
        read_at, lines = self._control.get(line, (-CONTROL_LINES_CACHE_S, None))
        if now - read_at >= CONTROL_LINES_CACHE_S:
            lines = control.read_control_lines(self.link, line)
            self._control[line] = (now, lines)
        return lines


class SharedHistory:
    """What a web process asks of "the recorder"; the ingest worker does the recording.

    - ``alerts``: from the alerts stream the worker publishes.
    - ``history``: from SQLite when this host sees the worker's data dir, else the points Redis holds.
    """

    def __init__(self, config: Config, link: RedisLink, stores: RedisLineStores) -> None:
        self.link = link
        self.stores = stores
        self.capacity = config.capacity
        self.path = Path(config.data_dir) / "linewatch.sqlite3"
        self._sqlite = Recorder(config.data_dir, stores, Thresholds(config.prob_threshold, config.value_threshold))

    def alerts(self, since_ts: float | None = None, until_ts: float | None = None, limit: int = 1000) -> list[dict]:
        return control.read_alerts(self.link, since_ts, until_ts, limit)

    def alarms(self, line: str | None, since_ts: float | None = None, until_ts: float | None = None,
               limit: int = 1000) -> list[dict]:
        return self._sqlite.alarms(line, since_ts, until_ts, limit) if self.path.exists() else []

    def history(self, line: str, since_ts: float | None, until_ts: float | None, limit: int) -> pd.DataFrame:
        if self.path.exists():
            return self._sqlite.history(line, since_ts, until_ts, limit)
        batch = self.stores.find(line).tail(self.capacity)
        keep = (batch.ts >= (since_ts or 0.0)) & (batch.ts <= (until_ts if until_ts is not None else float("inf")))
        return pd.DataFrame({"seq": batch.seq[keep], "ts": batch.ts[keep], "value": batch.value[keep],
                             "prob": batch.prob[keep]}).head(limit)
