"""``python -m app.ingest``: the ingest worker of a Redis deployment (the Procfile's ``worker:`` line).

With ``LINEWATCH_STORE=redis`` exactly one of these runs per deployment (web processes only
read).  It

- fills Redis from the SQLite history when a line's stream is empty (first start, or Redis
  restarted without its data), with the points it sent but had not recorded yet (and the
  alarm book when Redis holds none), and only then marks the store ready (until then every reader sees "store unavailable");
- runs the source (simulator, MQTT or replay) and judges, stores and records what HTTP
  ingest brings from every web process (app/store/redis/inbox.py), so each line has one
  detector, here;
- publishes the SPC control lines of its detectors;
- books the alarms its detectors raise in the alarm book (in Redis, where the web processes
  acknowledge and shelve them), runs the book's clock (shelf expiry, re-alarm) and copies
  the book's records and journal into the SQLite history (app/ingest/alarm_mirror.py);
- records every line's stream into SQLite in ``LINEWATCH_DATA_DIR`` (points, alerts,
  alarms, retention), following the streams like any reader, and publishes the alerts (the
  alerts stream the web processes serve);
- publishes a heartbeat with the source's health, which every page shows;
- counts the readings for /metrics: into ``PROMETHEUS_MULTIPROC_DIR`` when it is set (the
  gunicorn workers' directory, on their host), else published in Redis with the heartbeat
  (app/ingest/counts.py).

While Redis is unavailable the source's points wait in memory, up to
``INGEST_BUFFER_POINTS`` (app/store/redis/write_behind.py); beyond that the oldest are
dropped and the count is logged.  SIGTERM stops the source, sends what waits and records
what is left.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Sequence

import numpy as np

from app.alarm_book import AlarmBook, LedgerUnavailable
from app.alarm_clock import AlarmClock
from app.alarm_ledger import history_ledger
from app.config import Config, ConfigError
from app.ingest import Ingestor
from app.ingest.alarm_mirror import AlarmMirror
from app.notify import webhooks_from
from app.ingest.counts import publish as publish_counts
from app.logs import setup_logging
from app.points import PointBatch, Thresholds
from app.recorder import ALERT_COLUMNS, DataDirUnusable, HistoryUnavailable, Recorder, Retention
from app.sources import make_source
from app.store import StoreUnavailable
from app.store.redis import inbox
from app.store.redis.alarm_ledger import RedisLedger
from app.store.redis.control import (ALERTS_CAPACITY, alerts_held, counters, publish_alerts, publish_control_lines,
                                     publish_worker, record_gap, set_ready, withdraw_worker)
from app.store.redis.link import RedisLink
from app.store.redis.stream import RedisLineStores
from app.store.redis.write_behind import BufferedLineStores

log = logging.getLogger("app.ingest.worker")

RECORD_INTERVAL_S = 0.25  # the recorder follows the streams this often (durable HTTP ingest waits for it)
SUPERVISE_S = 0.5  # heartbeat, refill check and sending what waits, this often
INBOX_BLOCK_S = 1.0  # the inbox reader waits this long for a request (below the socket timeout)
INBOX_BATCH = 32  # requests taken at once
NEWEST_POINTS = "SELECT seq, ts, value, prob FROM points WHERE line = {p} ORDER BY seq DESC LIMIT {p}"
# The highest id handed out per line, as last seen in Redis: after Redis and this worker were
# both lost, the refill still goes on after it (ids are never given to two points).
HANDED_OUT_SCHEMA = "CREATE TABLE IF NOT EXISTS handed_out (line TEXT PRIMARY KEY, last_seq BIGINT NOT NULL)"


class StreamRecorder(Recorder):
    """The SQLite recorder following the Redis streams; it also refills them and publishes progress."""

    def __init__(self, data_dir, stores: RedisLineStores, buffer: BufferedLineStores, thresholds: Thresholds,
                 retention: Retention, interval: float = RECORD_INTERVAL_S, history_url: str = "") -> None:
        super().__init__(data_dir, stores, thresholds, interval=interval, retention=retention, history_url=history_url)
        self.link = stores.link
        self.buffer = buffer
        self._alerts_published = 0
        self._alerts_dirty = True
        self._handed_out: dict[str, int] = {}

    def load_cursors(self) -> None:
        """Start after what SQLite has, per line (before the first flush)."""
        with self.connect() as db:
            for line, last in db.execute("SELECT line, MAX(seq) FROM points GROUP BY line").fetchall():
                self.cursors[line] = max(self.cursors.get(line, -1), int(last))
            db.execute(HANDED_OUT_SCHEMA)
            self._handed_out = dict(db.execute("SELECT line, last_seq FROM handed_out").fetchall())

    def remember_handed_out(self, last_ids: dict[str, int]) -> None:
        """Keep the highest ids seen in Redis on disk (only when they changed)."""
        changed = {line: seq for line, seq in last_ids.items() if seq > self._handed_out.get(line, -1)}
        if changed:
            with self.connect() as db:
                db.execute(HANDED_OUT_SCHEMA)
                p, greatest = self.backend.p, self.backend.greatest
                db.cursor().executemany(f"INSERT INTO handed_out (line, last_seq) VALUES ({p}, {p}) ON CONFLICT (line)"
                                        f" DO UPDATE SET last_seq = {greatest}(handed_out.last_seq, excluded.last_seq)",
                                        list(changed.items()))
            self._handed_out.update(changed)

    def record(self, keys: dict[str, dict[str, list[int]]] | None = None) -> int:
        """Record what the streams received since the last call (with ``keys``, see ``Recorder.flush``);
        raises StoreUnavailable."""
        count = Recorder.flush(self, keys)
        self.buffer.forget_recorded(self.cursors)
        if count or self._alerts_dirty:
            self._alerts_dirty = True
            self._publish_alerts()
            self._alerts_dirty = False
        return count

    def flush(self) -> int:
        """The background round and the last one at stop: quiet while Redis is away (logged once)."""
        try:
            return self.record()
        except StoreUnavailable:
            return 0

    def _publish_alerts(self) -> None:
        p = self.backend.p
        query = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id > {p} ORDER BY id LIMIT {p}"
        while True:
            with self.connect() as db:
                rows = db.execute(query, (self._alerts_published, ALERTS_CAPACITY)).fetchall()
            if not rows:
                return
            publish_alerts(self.link, [dict(zip(ALERT_COLUMNS, row)) for row in rows])
            self._alerts_published = int(rows[-1][0])

    def seed(self) -> int:
        """Fill every empty stream from SQLite and the unrecorded points, then mark the store ready.

        A line's counter continues after the highest id ever handed out (known from this
        worker's appends and the counters it watched), so no id is given twice; ids handed
        out whose points are neither on disk nor here are lost: logged and kept in the
        ``gaps`` hash (/readyz).  Returns the points loaded.
        """
        loaded = 0
        with self._flush_lock:
            unrecorded = self.buffer.unrecorded()
            known = dict(self._handed_out)
            for line, seq in self.buffer.known.items():
                known[line] = max(known.get(line, -1), seq)
            with self.connect() as db:
                recorded = {line: int(last) for line, last in
                            db.execute("SELECT line, MAX(seq) FROM points GROUP BY line").fetchall()}
                for line in sorted(set(recorded) | set(unrecorded) | set(known) | set(self.stores.lines())):
                    last_recorded = recorded.get(line, -1)
                    self.cursors[line] = max(self.cursors.get(line, -1), last_recorded)
                    store = self.stores.get(line)
                    if store.held():
                        continue
                    rows = db.execute(NEWEST_POINTS.format(p=self.backend.p), (line, self.stores.capacity)).fetchall()
                    try:
                        loaded += self._refill(store, line, rows[::-1], last_recorded, unrecorded.get(line),
                                               known.get(line, -1))
                    except RuntimeError:  # a web process appended to this line meanwhile: it is live again
                        log.info("%s received points while being filled; left as it is", line)
            held, newest = alerts_held(self.link)
            if held:
                self._alerts_published = newest
            else:
                self._alerts_published = 0  # the next publish brings the newest ALERTS_CAPACITY back
                self._publish_newest_alerts()
            set_ready(self.link)
        return loaded

    def _refill(self, store, line: str, rows: list, last_recorded: int, unrecorded: PointBatch | None,
                known: int) -> int:
        data = np.array(rows, dtype=float).reshape(-1, 4)
        parts = [PointBatch(data[:, 0].astype(np.int64), data[:, 1], data[:, 2], data[:, 3])]
        if unrecorded is not None:
            newer = unrecorded.seq > last_recorded
            parts.append(PointBatch(*(column[newer] for column in unrecorded)))
        batch = PointBatch(*(np.concatenate(column) for column in zip(*parts)))
        batch = PointBatch(*(column[-store.capacity:] for column in batch))
        top = max(known, last_recorded, int(batch.seq[-1]) if len(batch) else -1)
        store.load(batch, next_seq=top + 1)
        missing = np.setdiff1d(np.arange(last_recorded + 1, top + 1), parts[-1].seq if unrecorded is not None else [])
        if len(missing):
            log.warning("Redis lost %d point(s) of %s that were not recorded yet (seq %d..%d); the stream goes on "
                        "at %d", len(missing), line, int(missing[0]), int(missing[-1]), top + 1)
            record_gap(self.link, line, int(missing[0]), int(missing[-1]), len(missing))
        log.info("filled %s in Redis with %d point(s) (%d from SQLite); next id %d", line, len(batch), len(rows),
                 top + 1)
        return len(batch)

    def _publish_newest_alerts(self) -> None:
        query = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts ORDER BY id DESC LIMIT {self.backend.p}"
        with self.connect() as db:
            rows = db.execute(query, (ALERTS_CAPACITY,)).fetchall()
        if rows:
            publish_alerts(self.link, [dict(zip(ALERT_COLUMNS, row)) for row in rows[::-1]])
            self._alerts_published = int(rows[0][0])


class DurableRecording:
    """The worker's answer to ``Ingestor.ingest(durable=True)`` (MQTT acknowledges after it):
    everything waiting is in Redis and on disk, or StoreUnavailable (nothing is acknowledged)."""

    def __init__(self, buffer: BufferedLineStores, recorder: StreamRecorder) -> None:
        self.buffer = buffer
        self.recorder = recorder
        self.path = recorder.path

    def make_room(self, line: str, store, n: int) -> None:
        """The memory store's back-pressure (``Recorder.make_room``): record what the append would trim
        from the stream first.  While Redis is away the points wait in the buffer, which keeps them
        until they are recorded."""
        try:
            self.recorder.make_room(line, store, n)
        except StoreUnavailable:
            pass

    def write_ahead(self, planned, keys: Sequence[str] = ()) -> None:
        """Refuse (HistoryUnavailable, nothing appended) while the history is known to be unwritable;
        Redis gives the ids, so the points (and ``keys``) are recorded after the append (``ensure_recorded``)."""
        if self.recorder.problem:
            raise HistoryUnavailable(f"history not writable: {self.recorder.problem}")

    def ensure_recorded(self, seqs: dict[str, list[int]], keys: Sequence[str] = ()) -> None:
        """Send and record everything waiting (an append held back by an outage has no ids yet), with
        the idempotency ``keys`` of these points in the same transaction."""
        if not self.buffer.drain():
            raise StoreUnavailable(f"points wait for the store: {self.buffer.link.reason or 'Redis unavailable'}")
        self.recorder.record(dict.fromkeys(keys, seqs))

    def answered(self, keys: Sequence[str]) -> dict[str, list[int]] | None:
        return self.recorder.answered(keys)

    def recorded(self, keys: Sequence[str]) -> set[str]:
        return self.recorder.recorded(keys)


class IngestWorker:
    def __init__(self, config: Config, publish_counts: bool = True) -> None:
        """``publish_counts``: the readings counters go to Redis (False: prometheus_client's directory has them)."""
        self.config = config
        self.publish_counts = publish_counts
        self.run = f"{socket.gethostname()}:{os.getpid()}:{time.time():.0f}"  # this run's field in the counts
        self.link = RedisLink.from_url(config.redis_url, name="linewatch-ingest")
        self.stores = RedisLineStores(self.link, config.capacity)
        self.buffer = BufferedLineStores(self.stores)
        self.recorder = StreamRecorder(config.data_dir, self.stores, self.buffer,
                                       Thresholds(config.prob_threshold, config.value_threshold),
                                       Retention(config.retention_days, config.retention_points),
                                       history_url=config.history_url)
        alarm_ledger = RedisLedger(self.link)
        self.alarm_book = AlarmBook(alarm_ledger, design=config.alarm_design,
                                    shelve_max_minutes=config.shelve_max_minutes)
        alarm_history = history_ledger(self.recorder.backend)  # the book's copy in the history
        self.alarm_clock = AlarmClock(self.alarm_book, retention_s=config.retention_days * 86_400,
                                      copies=(alarm_history,))  # the deployment's one
        self.webhooks = webhooks_from(config)  # for every process's transitions, as the mirror copies them
        self.alarm_mirror = AlarmMirror(alarm_ledger, alarm_history, self.webhooks)
        self.ingestor = Ingestor(self.buffer, DurableRecording(self.buffer, self.recorder), config.detector_for,
                                 self.alarm_book)
        self.source = make_source(config, self.ingestor)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inbox_thread: threading.Thread | None = None
        self._last_error = ""
        self._inbox_round = time.monotonic()  # when the inbox reader last came round (the heartbeat's stall figure)
        self._filled = False  # the first round adopts (or fills) what Redis holds

    def start(self) -> None:
        self.recorder.check()  # DataDirUnusable: main() stops with one line
        self.recorder.load_cursors()
        self._supervise_once()  # fill Redis first when it answers; if not, the source's points wait
        self.recorder.start()
        self.alarm_clock.start()
        if self.webhooks is not None:
            self.webhooks.start()
        self.source.start()
        self._thread = threading.Thread(target=self._supervise, name="linewatch-ingest-supervisor", daemon=True)
        self._thread.start()
        self._inbox_thread = threading.Thread(target=self._serve_inbox, name="linewatch-ingest-inbox", daemon=True)
        self._inbox_thread.start()

    def stop(self) -> None:
        """Stop the source, send what waits (if Redis answers), record what is left (alarms too)."""
        self._stop.set()
        self.source.stop()
        for thread in (self._thread, self._inbox_thread):
            if thread:
                thread.join(10)
        self.alarm_clock.stop()
        if not self.buffer.drain():
            log.warning("exiting with %d point(s) that never reached Redis", self.buffer.waiting)
        self.recorder.stop()
        try:
            self.alarm_mirror.copy()
        except LedgerUnavailable:
            log.warning("exiting with alarm journal entries not copied to the history (copied at the next start)")
        self.alarm_mirror.target.close()
        if self.webhooks is not None:
            self.webhooks.stop()
        try:
            self._publish_counts()  # the last figures
            withdraw_worker(self.link)  # pages say "no ingest worker" at once
        except StoreUnavailable:
            pass

    def _supervise(self) -> None:
        while not self._stop.wait(SUPERVISE_S):
            self._supervise_once()

    def _supervise_once(self) -> None:
        try:
            self._beat()
            ready, last_ids = counters(self.link)
            for line, last in last_ids.items():
                self.buffer.observe(line, last)
            if ready:  # (a Redis that restarted empty counts from nothing until it is filled)
                self.recorder.remember_handed_out(last_ids)
            if not ready or not self._filled:
                restored = self.alarm_mirror.restore()
                if restored:
                    log.info("filled the alarm book in Redis with %d alarm(s) from SQLite", restored)
                self.recorder.seed()
                self._filled = True
            self.buffer.drain()
            publish_control_lines(self.link, {line: lines for line in self.ingestor.lines()
                                              if (lines := self.ingestor.control_lines(line)) is not None})
            self.alarm_mirror.copy()
            self._last_error = ""
        except (StoreUnavailable, LedgerUnavailable):
            pass  # the link (or the alarm ledger) logged it once; the next round retries
        except Exception as exc:  # e.g. the disk; keep going, log each new error once
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                log.exception("ingest worker: supervising failed; retrying")
            self._last_error = message

    def _serve_inbox(self) -> None:
        """HTTP ingest from every web process (app/store/redis/inbox.py): judged, stored and recorded here."""
        while not self._stop.is_set():
            self._inbox_round = time.monotonic()
            try:
                requests = inbox.take(self.link, INBOX_BLOCK_S, INBOX_BATCH)
            except StoreUnavailable:
                self._stop.wait(INBOX_BLOCK_S)  # the link logged it once
                continue
            for token, readings, keys in requests:
                self._inbox_round = time.monotonic()
                try:
                    answer = {"seqs": self.ingestor.ingest(readings, durable=True, keys=keys)}
                except (StoreUnavailable, HistoryUnavailable) as exc:
                    answer = {"error": str(exc)}
                except Exception as exc:  # answer the client; the worker keeps serving
                    log.exception("ingest worker: a request from the inbox failed")
                    answer = {"error": f"the ingest worker failed: {type(exc).__name__}"}
                try:
                    inbox.reply(self.link, token, **answer)
                except StoreUnavailable:
                    pass  # the web process times out and says so

    def _beat(self) -> None:
        health = self.source.health()
        stalled = time.monotonic() - self._inbox_round
        publish_worker(self.link, {
            "state": health.state, "message": health.message, "kind": self.config.source,
            "rejected": self.ingestor.rejected, "accepted": self.ingestor.accepted, "waiting": self.buffer.waiting,
            "dropped": self.buffer.dropped, "history": self.recorder.problem, "host": socket.gethostname(),
            "pid": os.getpid(), "at": time.time(), "inbox_stalled_s": f"{stalled:.1f}",
            "behind": ",".join(self.recorder.health()["behind"])})
        self._publish_counts()

    def _publish_counts(self) -> None:
        if self.publish_counts:
            publish_counts(self.link, self.run, self.ingestor.accepted, self.ingestor.rejected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.ingest",
                                     description="LineWatch ingest worker (LINEWATCH_STORE=redis): source, "
                                                 "recorder and refill of Redis from the SQLite history")
    parser.parse_args(argv)
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(f"linewatch: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if config.store != "redis":
        print("linewatch: python -m app.ingest is the ingest worker of LINEWATCH_STORE=redis; with "
              "LINEWATCH_STORE=memory the web process runs the source itself", file=sys.stderr)
        return 2
    setup_logging(config.log_format)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)  # prometheus_client writes the counters there
    worker = IngestWorker(config, publish_counts=not metrics_dir)
    try:
        worker.start()
    except DataDirUnusable as exc:
        print(f"linewatch: {exc}", file=sys.stderr)
        return 2
    log.info("ingest worker: %s source, Redis at %s, history in %s", config.source, worker.link.where,
             worker.recorder.path)
    while not stop.wait(1.0):
        pass
    worker.stop()
    log.info("ingest worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
