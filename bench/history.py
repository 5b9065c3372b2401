"""History: one line at 10 readings/s loaded into each backend, then range queries, an export and ingest.

Both backends: SQLite (a file in a temporary data dir) and PostgreSQL (the machine's server at
127.0.0.1:5432, role postgres, trust auth; the benchmark creates and drops its own database).
30 days (quick: 3 days) are generated and bulk-loaded a day at a time, one transaction each
(PostgreSQL: COPY), the rollups computed as the writer computes them; then p95 of 20 queries each
through ``Recorder.points_range`` (what the API and the page call), a one-day CSV export through
the API streamed to the end (peak RSS above the process's before it), ingest through the real
writer (points + rollups + alerts in one transaction per flush), the size on disk per million
readings and retention dropping the oldest day.  A backend that fails is reported as failed; the
other's results are kept.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from . import report

RATE = 10.0  # readings per second
DAYS, QUICK_DAYS = 30, 3
QUERIES = 20
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS_MS = {"30-day range at 1,500 points": 300, "1-day range at 1,500 points": 100, "10-minute raw range": 50}
EXPORT_S = 10.0
MIN_INGEST = 20_000
INGEST_READINGS, QUICK_INGEST_READINGS = 500_000, 200_000
INGEST_BATCH, INGEST_FLUSH = 1000, 10  # readings per append, appends per flush (the recorder flushes every second)


def day_of(day: int, start: float, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One day of readings: seq, ts, value (a slow wave with noise and rare spikes), prob."""
    n = int(86_400 * RATE)
    seq = day * n + np.arange(n, dtype=np.int64)
    ts = start + seq / RATE
    value = 50 + 5 * np.sin(seq / 36_000) + rng.normal(0, 0.5, n)
    spikes = rng.random(n) < 1e-5
    value[spikes] += 30
    prob = np.clip(rng.beta(1, 30, n) + spikes * 0.9, 0, 1)
    return seq, ts, value, prob


def load(backend: str, url: str, data_dir: Path, days: int, start: float) -> tuple[float, int]:
    """Generate and bulk-load ``days``; the seconds it took and the readings loaded."""
    from app.history import rollups
    from app.points import Thresholds
    from app.recorder import Recorder
    from app.store import LineStores

    recorder = Recorder(data_dir, LineStores(10), Thresholds(0.5, 0.5), history_url=url)
    recorder.check()
    rng = np.random.default_rng(15)
    loaded = 0
    t0 = time.perf_counter()
    for day in range(days):  # a day in memory at a time, committed
        with recorder.backend.writing() as db:
            cursor = db.cursor()
            seq, ts, value, prob = day_of(day, start, rng)
            if backend == "postgresql":
                frame = pd.DataFrame({"line": "line-1", "seq": seq, "ts": ts, "value": value, "prob": prob})
                with cursor.copy("COPY points (line, seq, ts, value, prob) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(frame.to_csv(index=False, header=False, float_format="%.17g"))
            else:
                cursor.executemany("INSERT INTO points (line, seq, ts, value, prob) VALUES (?, ?, ?, ?, ?)",
                                   zip(["line-1"] * len(seq), seq.tolist(), ts.tolist(), value.tolist(), prob.tolist()))
            for level, table in rollups.TABLES.items():
                cursor.executemany(rollups.upsert(table, recorder.backend.p),
                                   rollups.rollup_rows("line-1", ts, value, prob, rollups.WIDTHS[level]))
            loaded += len(seq)
        print(f"  {backend}: {loaded:,} readings loaded", flush=True)
    if backend == "postgresql":
        with recorder.backend.reading() as db:
            db.execute("ANALYZE")
    elapsed = time.perf_counter() - t0
    recorder.stop()
    return elapsed, loaded


def p95_ms(fn, arguments) -> float:
    times = []
    for args in arguments:
        t0 = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 95))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def export_day(url: str, data_dir: Path, start: float) -> tuple[float, int, int]:
    """GET /api/v1/points.csv of one day through the app, read to the end; seconds, rows, peak RSS delta."""
    from app.config import Config
    from app.web import create_app

    app = create_app(Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(data_dir),
                                      "LINEWATCH_HISTORY_URL": url, "LINEWATCH_WINDOW": "1000",
                                      "LINEWATCH_RETENTION_DAYS": "36500",
                                      "LINEWATCH_RETENTION_POINTS": "10000000000"}))
    client = app.server.test_client()
    client.get("/healthz")
    baseline, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    response = client.get(f"/api/v1/points.csv?line=line-1&from={start}&to={start + 86_400 - 0.05}", buffered=False)
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    app.server.extensions["linewatch"].stop()
    return elapsed, lines - 1, max(0, peak[0] - baseline)


def ingest(url: str, data_dir: Path, after: float, total: int) -> float:
    """Readings per second through the recorder (points, rollups, alerts per flush), continuing the line."""
    from app.points import Thresholds
    from app.recorder import Recorder
    from app.store import LineStores

    stores = LineStores(INGEST_BATCH * INGEST_FLUSH * 2)
    recorder = Recorder(data_dir, stores, Thresholds(0.5, 0.5), history_url=url)
    store = stores.get("line-2")
    rng = np.random.default_rng(3)
    t0 = time.perf_counter()
    for i in range(total // INGEST_BATCH):
        ts = after + (i * INGEST_BATCH + np.arange(INGEST_BATCH)) / RATE
        store.append(ts, rng.normal(50, 1, INGEST_BATCH), rng.beta(1, 30, INGEST_BATCH))
        if i % INGEST_FLUSH == INGEST_FLUSH - 1:
            recorder.flush()
    recorder.flush()
    elapsed = time.perf_counter() - t0
    recorder.stop()
    return total / elapsed


def size_bytes(backend: str, url: str, data_dir: Path) -> int:
    if backend == "sqlite":
        return sum(p.stat().st_size for p in data_dir.glob("linewatch.sqlite3*"))
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def retention_day(url: str, data_dir: Path, days: int, end: float) -> tuple[float, int]:
    """Seconds and readings of the recorder's retention pass that drops the oldest of ``days``."""
    from app.points import Thresholds
    from app.recorder import Recorder, Retention
    from app.store import LineStores

    recorder = Recorder(data_dir, LineStores(10), Thresholds(0.5, 0.5), history_url=url,
                        retention=Retention(days - 1, 10**12))
    t0 = time.perf_counter()
    deleted = recorder.enforce_retention(end)
    elapsed = time.perf_counter() - t0
    recorder.stop()
    return elapsed, deleted


def run_backend(backend: str, url: str, days: int, quick: bool) -> dict:
    from app.points import Thresholds
    from app.recorder import Recorder
    from app.store import LineStores

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        start = float(int(time.time() // 86_400 * 86_400 - days * 86_400))  # ends today: within retention
        load_s, loaded = load(backend, url, data_dir, days, start)
        size = size_bytes(backend, url, data_dir)
        recorder = Recorder(data_dir, LineStores(10), Thresholds(0.5, 0.5), history_url=url)
        rng = np.random.default_rng(1)
        end = start + days * 86_400
        queries = {
            f"{days}-day range at 1,500 points" if days != 30 else "30-day range at 1,500 points":
                [("line-1", start + s, end - 3600 + s, 1500) for s in rng.uniform(0, 3600, QUERIES)],
            "1-day range at 1,500 points":
                [("line-1", s, s + 86_400, 1500) for s in rng.uniform(start, end - 86_400, QUERIES)],
            "10-minute raw range": [("line-1", s, s + 600, 10_000) for s in rng.uniform(start, end - 600, QUERIES)],
        }
        sources = {name: recorder.points_range(*args[0]).source for name, args in queries.items()}
        timings = {name: p95_ms(recorder.points_range, args) for name, args in queries.items()}
        recorder.stop()
        export_s, export_rows, export_rss = export_day(url, data_dir, start + 86_400)
        rate = ingest(url, data_dir, end, QUICK_INGEST_READINGS if quick else INGEST_READINGS)
        retention_s, retention_deleted = retention_day(url, data_dir, days, end)
    return {"backend": backend, "days": days, "readings": loaded, "load_s": load_s, "load_rate": loaded / load_s,
            "size_bytes": size, "bytes_per_million": size / (loaded / 1e6), "p95_ms": timings, "sources": sources,
            "export_s": export_s, "export_rows": export_rows, "export_rss_delta": export_rss, "ingest_rate": rate,
            "retention_s": retention_s, "retention_deleted": retention_deleted}


def postgres_database():
    """A fresh database on the local server (name, URL), or None when no server answers."""
    import psycopg

    name = f"lw_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return None
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(quick: bool) -> dict:
    days = QUICK_DAYS if quick else DAYS
    notes = [f"{days} days of one line at {RATE:g} readings/s ({days * 864_000:,} readings)"
             + (" - quick mode: fewer days than the 30 of the target" if quick else ""),
             f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    results, checks = [], []

    def measure(backend: str, url: str) -> None:
        """Run one backend; a failure is reported and the other backend still runs."""
        try:
            results.append(run_backend(backend, url, days, quick))
            print(f"  {backend}: {results[-1]}", flush=True)  # seen even if the next backend never ends
        except Exception as exc:
            checks.append(report.check(f"{backend}: the benchmark ran", f"{type(exc).__name__}: {exc}", "no error",
                                       False))

    database = postgres_database()  # first: the shared history the targets are about
    if database is None:
        notes.append(f"PostgreSQL: no server at {ADMIN_URL}, not measured")
    else:
        try:
            measure("postgresql", database[1])
        finally:
            drop_database(database[0])
    measure("sqlite", "")
    notes.append(f"load average after: {os.getloadavg()[0]:.1f}")
    rows = []
    for r in results:
        name = r["backend"]
        for query, ms in r["p95_ms"].items():
            limit = TARGETS_MS.get(query)
            if limit is None:
                checks.append(report.info(f"{name}: p95 {query} ({r['sources'][query]})", f"{ms:.1f} ms"))
            else:
                checks.append(report.check(f"{name}: p95 {query} ({r['sources'][query]})", f"{ms:.1f} ms",
                                           f"< {limit} ms", ms < limit))
        checks.append(report.check(f"{name}: CSV export of one day ({r['export_rows']:,} rows), streamed",
                                   f"{r['export_s']:.1f} s, peak RSS +{r['export_rss_delta'] / 2**20:.0f} MiB",
                                   f"< {EXPORT_S:g} s", r["export_s"] < EXPORT_S and r["export_rows"] == 864_000))
        ingested = f"{r['ingest_rate']:,.0f}/s"
        if name == "postgresql":
            checks.append(report.check(f"{name}: ingest through the writer with rollups", ingested,
                                       f">= {MIN_INGEST:,}/s", r["ingest_rate"] >= MIN_INGEST))
        else:
            checks.append(report.info(f"{name}: ingest through the writer with rollups", ingested))
        checks.append(report.info(f"{name}: bulk load", f"{r['load_rate']:,.0f} readings/s"))
        checks.append(report.info(f"{name}: size on disk per million readings",
                                  f"{r['bytes_per_million'] / 2**20:.1f} MiB"))
        checks.append(report.info(f"{name}: retention dropping the oldest day ({r['retention_deleted']:,} readings)",
                                  f"{r['retention_s']:.1f} s"))
        rows.append([name, f"{r['readings']:,}", f"{r['load_rate']:,.0f}/s",
                     *(f"{ms:.1f}" for ms in r["p95_ms"].values()), f"{r['export_s']:.1f}",
                     f"{r['export_rss_delta'] / 2**20:.0f}", f"{r['ingest_rate']:,.0f}/s",
                     f"{r['bytes_per_million'] / 2**20:.1f}", f"{r['retention_s']:.1f}"])
    queries = results[0]["p95_ms"] if results else {}
    columns = ["backend", "readings", "bulk load", *(f"p95 ms: {q}" for q in queries), "export 1 day s",
               "export peak RSS + MiB", "ingest with rollups", "MiB per M readings", "retention of a day s"]
    return report.result("history", quick, checks, columns, rows, notes, {"results": results})
