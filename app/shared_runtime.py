"""A web process's running parts with ``LINEWATCH_STORE=redis``: it reads, the ingest worker records.

The source and the recorder run in the ingest worker (``python -m app.ingest``); here the
store is Redis, the source's health is the worker's heartbeat, and the "recorder" serves
alerts and history; HTTP ingest goes to the worker (app/store/redis/inbox.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from cachetools import TTLCache, cachedmethod

from app import backpressure
from app.alarm_book import AlarmBook
from app.config import Config
from app.history.ranges import PointsRange
from app.points import DEFAULT_LINE, Thresholds
from app.recorder import HistoryUnavailable, Recorder
from app.sources import SourceHealth
from app.sources.base import READY_STATES
from app.store import StoreUnavailable
from app.ingest.counts import ReadingCounters
from app.readings import Readings
from app.store.redis import control, inbox
from app.store.redis.alarm_ledger import RedisLedger
from app.store.redis.link import RedisLink
from app.store.redis.stream import RedisLineStores

RECORD_WAIT_S = 5.0  # HTTP ingest waits this long for the worker to take the readings, and as long to record them
WORKER_HEALTH_CACHE_S = 0.5
HISTORY_CHECK_S = 1.0  # how often a web process asks the shared history whether it answers
CONTROL_LINES_CACHE_S = 0.5  # the worker publishes them as often; a tick does not ask Redis for them


class SharedRuntime:
    """A reader of the Redis streams; source and recorder run in ``python -m app.ingest``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.link = RedisLink.from_url(config.redis_url)  # connects on first use, in the serving process
        self.stores = RedisLineStores(self.link, config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)
        self.recorder = SharedHistory(config, self.link, self.stores)
        self.history = self.recorder
        self.source = WorkerSource(self.link)
        self.ingestor = WorkerIngestor(self.link, self.source)
        self.alarm_book = AlarmBook(RedisLedger(self.link), design=config.alarm_design,
                                    shelve_max_minutes=config.shelve_max_minutes)  # the ingest worker's clock sweeps it

    def ensure_started(self) -> None:
        """Nothing to start: the ingest worker runs the source, the recorder and the alarm clock."""

    def stop(self) -> None:
        """Close this process's connections to the shared history (the ingest worker records)."""
        self.recorder.stop()

    def source_status(self) -> SourceHealth:
        """The worker's health and every web process's refusals; the history's problem is this host's
        when it cannot read the shared history, else the worker's."""
        health = self.source.health()
        problem = self.recorder.unreadable()
        return health._replace(history=problem) if problem else health

    def readiness(self) -> dict:
        """Ready when Redis answers (and is filled), the ingest worker's source is fine and HTTP ingest
        is not refused (app/backpressure.py)."""
        source = {"kind": self.config.source, "runs_in": "python -m app.ingest"}
        store = {"kind": "redis", "redis": self.link.where}
        reads = self.recorder.unreadable()
        try:
            stats = self.store.stats()
            gaps = control.read_gaps(self.link)
            worker, waiting = self.source.heartbeat(), inbox.waiting(self.link)
        except StoreUnavailable as exc:
            store.update(state="unavailable", message=str(exc))
            readable = {"state": "unavailable", "message": reads} if reads else {"state": "ok"}
            return {"ready": False, "source": source, "store": store, "history": readable}
        health = self.source.health()
        source.update(state=health.state, message=health.message, rejected=health.rejected)
        store.update(state="ok", points=stats.count, next_seq=stats.next_seq, rate=round(stats.rate, 2))
        if gaps:
            store["gaps"] = gaps
        if reads:
            history = {"state": "unavailable", "message": reads}
        else:
            history = {"state": "unwritable", "message": health.history} if health.history else {"state": "ok"}
        refused = backpressure.refusal(worker, waiting)
        ingest = {"state": "refused", "message": str(refused)} if refused else {"state": "ok"}
        ingest.update(waiting=waiting, limit=backpressure.INBOX_LIMIT)
        return {"ready": health.state in READY_STATES and not health.history and not refused and not reads,
                "source": source,
                "store": store, "history": history, "ingest": ingest}


class WorkerSource:
    """The source as a web process sees it: the ingest worker's heartbeat."""

    name = "worker"

    def __init__(self, link: RedisLink, timer: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self._heartbeats = TTLCache(maxsize=1, ttl=WORKER_HEALTH_CACHE_S, timer=timer)
        self._heartbeats_reading = threading.Condition()  # one read at a time: the others wait for it

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def health(self) -> SourceHealth:
        try:
            fields, web_rejected = self._read()
        except StoreUnavailable as exc:
            return SourceHealth("error", f"store unavailable: {exc}")
        if not fields:
            return SourceHealth("error", "no ingest worker: start `python -m app.ingest` (the Procfile's worker)",
                                web_rejected)
        return SourceHealth(fields.get("state", "error"), fields.get("message", ""),
                            int(fields.get("rejected", 0)) + web_rejected, fields.get("history", ""))

    def heartbeat(self) -> dict[str, str]:
        """The worker's last heartbeat ({} when none is fresh); StoreUnavailable."""
        return self._read()[0]

    @cachedmethod(lambda self: self._heartbeats, condition=lambda self: self._heartbeats_reading)
    def _read(self) -> tuple[dict[str, str], int]:
        """The heartbeat and the web processes' refusals, read at most every ``WORKER_HEALTH_CACHE_S``."""
        return control.read_worker(self.link)


class WorkerIngestor:
    """HTTP ingest in a web process: the readings go to the ingest worker, which judges, stores,
    records and counts them (app/store/redis/inbox.py); refusals are counted here and in Redis for
    every process to show.  While the worker cannot take them, they are refused (app/backpressure.py)."""

    def __init__(self, link: RedisLink, worker: WorkerSource, timer: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.worker = worker
        self.rejected = 0
        self.counters = ReadingCounters()  # only refusals: the worker counts what it stores
        self._lock = threading.Lock()
        self._control = TTLCache(maxsize=4096, ttl=CONTROL_LINES_CACHE_S, timer=timer)  # line -> its lines
        self._control_reading = threading.Condition()  # one read at a time: the others wait for it

    def ingest(self, readings: Readings, durable: bool = True, keys: Sequence[str] = ()) -> dict[str, list[int]]:
        """Stored and on disk (in the worker) on return, whatever ``durable`` says; the ids per line.
        The worker checks and records the idempotency ``keys``.  Overloaded (nothing stored) when the
        worker is absent, stalled or behind, or its inbox is full."""
        refused = backpressure.refusal(self.worker.heartbeat())
        if refused:
            raise refused
        return inbox.deliver(self.link, readings, RECORD_WAIT_S, keys)

    def count_rejected(self, n: int = 1) -> None:
        with self._lock:
            self.rejected += n
        self.counters.rejected.inc(n)
        try:
            control.count_rejected(self.link, n)
        except StoreUnavailable:
            pass

    @cachedmethod(lambda self: self._control, condition=lambda self: self._control_reading)
    def control_lines(self, line: str) -> tuple[float, float, float] | None:
        """The SPC control lines the worker's detector of ``line`` published, if it has SPC rules
        (read from Redis at most every ``CONTROL_LINES_CACHE_S``)."""
        return control.read_control_lines(self.link, line)


class SharedHistory:
    """What a web process asks of "the recorder"; the ingest worker does the recording.

    With ``LINEWATCH_HISTORY_URL`` (PostgreSQL) every host reads ranges, exports and alerts from
    the history they share.  Without it: alerts from the alerts stream the worker publishes, ranges
    and exports from SQLite when this host sees the worker's data dir; otherwise HistoryUnavailable,
    never the window Redis holds as if it were the history.
    """

    def __init__(self, config: Config, link: RedisLink, stores: RedisLineStores) -> None:
        self.link = link
        self.shared = bool(config.history_url)
        self.path = Path(config.data_dir) / "linewatch.sqlite3"
        self._reader = Recorder(config.data_dir, stores, Thresholds(config.prob_threshold, config.value_threshold),
                                history_url=config.history_url)
        self._checks = TTLCache(maxsize=1, ttl=HISTORY_CHECK_S)
        self._checks_reading = threading.Condition()  # one read at a time: the others wait for it

    def alerts(self, since_ts: float | None = None, until_ts: float | None = None, limit: int = 1000) -> list[dict]:
        if self.shared:
            return self._reader.alerts(since_ts, until_ts, limit)
        return control.read_alerts(self.link, since_ts, until_ts, limit)

    def history(self, line: str, since_ts: float | None, until_ts: float | None, limit: int):
        self._ensure_visible()
        return self._reader.history(line, since_ts, until_ts, limit)

    def points_range(self, line: str, start: float, end: float, max_points: int) -> PointsRange:
        self._ensure_visible()
        return self._reader.points_range(line, start, end, max_points)

    def _ensure_visible(self) -> None:
        if not self.shared and not self.path.exists():
            raise HistoryUnavailable(f"history unavailable: this host does not see the ingest worker's history "
                                     f"({self.path}); set LINEWATCH_HISTORY_URL to share one")

    def unreadable(self) -> str:
        """Why this host cannot read the shared history ("" when it can, or without one)."""
        return self._shared_history_problem() if self.shared else ""

    @cachedmethod(lambda self: self._checks, condition=lambda self: self._checks_reading)
    def _shared_history_problem(self) -> str:
        """Asked of the shared history at most every ``HISTORY_CHECK_S``."""
        try:
            with self._reader.connect() as db:
                db.execute("SELECT 1").fetchone()
            return ""
        except self._reader.backend.errors as exc:
            return f"history unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"

    def stop(self) -> None:
        self._reader.backend.close()
