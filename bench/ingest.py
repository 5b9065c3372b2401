"""Ingest: points per second LineWatch takes in, with nothing lost.

In-process: the in-memory store alone (with a concurrent reader), and store + SQLite recorder.
Over HTTP: POST /api/v1/points in batches of 100 against gunicorn, each answered once on disk.
"""
import http.client
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from . import report, servers

BATCHES = (100, 1000)
MIN_RATE = 50_000
MIN_HTTP_RATE = 10_000
HTTP_BATCH = 100
HTTP_CLIENTS = 4


def measure(batch, total):
    """Append ``total`` points in batches of ``batch`` while a reader follows with ``since``."""
    from app.store.memory import MemoryStore
    store = MemoryStore(total)  # room for every point, so any loss is the store's
    rng = np.random.default_rng(batch)
    columns = (time.time() + np.arange(total) * 1e-4, rng.normal(0.42, 0.05, total), rng.random(total))
    seen, done = [], threading.Event()

    def reader():
        cursor = -1
        while True:
            finished = done.is_set()
            got = store.since(cursor)
            if len(got):
                seen.append(got.seq)
                cursor = int(got.seq[-1])
            elif finished:
                return
            else:
                time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    assigned = []
    t0 = time.perf_counter()
    for start in range(0, total, batch):
        assigned.append(store.append(*(c[start:start + batch] for c in columns)))
    elapsed = time.perf_counter() - t0
    done.set()
    thread.join()
    assigned, seen = np.concatenate(assigned), np.concatenate(seen)
    expected = np.arange(total)
    return {"batch": batch, "points": total, "seconds": elapsed, "points_per_s": total / elapsed,
            "stored": store.stats().count, "ids_ok": bool(np.array_equal(assigned, expected)),
            "reader_ok": bool(np.array_equal(seen, expected)),
            "values_ok": bool(np.array_equal(store.tail(total).value, columns[1]))}


def measure_recorded(total, batch=100, flush_every=1000):
    """Store + recorder in-process: appends in batches, a flush per ``flush_every`` batches (the
    recorder's thread does one a second), until every point is in SQLite."""
    from app.points import Thresholds
    from app.recorder import Recorder
    from app.store import LineStores
    with tempfile.TemporaryDirectory() as data:
        stores = LineStores(total)
        recorder = Recorder(Path(data), stores, Thresholds(0.5, 0.5))
        store = stores.get("line-1")
        rng = np.random.default_rng(7)
        values = rng.normal(0.42, 0.05, total)
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, total, batch)):
            store.append(np.full(batch, time.time()), values[start:start + batch], np.zeros(batch))
            if i % flush_every == flush_every - 1:
                recorder.flush()
        recorder.flush()
        elapsed = time.perf_counter() - t0
        recorder.stop()
        recorded = sqlite3.connect(recorder.path).execute("SELECT COUNT(*) FROM points").fetchone()[0]
    return {"mode": "store + recorder", "batch": batch, "points": total, "seconds": elapsed,
            "points_per_s": total / elapsed, "stored": recorded}


def measure_http(seconds):
    """Clients POST batches of HTTP_BATCH for ``seconds``; count 201s, then the points in SQLite."""
    with tempfile.TemporaryDirectory() as data:
        env = {"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": data}
        with servers.gunicorn("app.wsgi:server", env=env) as (_, base):
            host, port = base.removeprefix("http://").split(":")
            sent, failures = [0] * HTTP_CLIENTS, [0] * HTTP_CLIENTS
            deadline = time.monotonic() + seconds

            def client(n):
                connection = http.client.HTTPConnection(host, int(port), timeout=10)  # keep-alive
                value = n * 1e9
                while time.monotonic() < deadline:
                    body = json.dumps([{"value": value + i} for i in range(HTTP_BATCH)])
                    connection.request("POST", "/api/v1/points", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    if response.status == 201:
                        sent[n] += HTTP_BATCH
                        value += HTTP_BATCH
                    else:
                        failures[n] += 1
                connection.close()

            t0 = time.perf_counter()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(HTTP_CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
        recorded = sqlite3.connect(Path(data) / "linewatch.sqlite3").execute("SELECT COUNT(*) FROM points").fetchone()[0]
    return {"mode": f"HTTP POST, {HTTP_CLIENTS} clients", "batch": HTTP_BATCH, "points": sum(sent),
            "seconds": elapsed, "points_per_s": sum(sent) / elapsed, "stored": recorded, "failures": sum(failures)}


def run(quick):
    total = 2_000_000 if quick else 10_000_000
    runs = [measure(b, total) for b in BATCHES]
    recorded = measure_recorded(total // 4)
    over_http = measure_http(10 if quick else 30)
    checks = []
    for r in runs:
        lossless = r["stored"] == r["points"] and r["ids_ok"] and r["reader_ok"] and r["values_ok"]
        checks += [report.check(f"ingest rate, batches of {r['batch']}", f"{r['points_per_s']:,.0f} /s",
                                f"≥ {MIN_RATE:,} /s", r["points_per_s"] >= MIN_RATE),
                   report.check(f"ingest loses no point, batches of {r['batch']}",
                                f"{r['stored']:,} of {r['points']:,} stored", "all, in order", lossless)]
    for r, target in ((recorded, MIN_RATE), (over_http, MIN_HTTP_RATE)):
        lossless = r["stored"] == r["points"] and not r.get("failures")
        checks += [report.check(f"ingest rate, {r['mode']}, batches of {r['batch']}", f"{r['points_per_s']:,.0f} /s",
                                f"≥ {target:,} /s", r["points_per_s"] >= target),
                   report.check(f"ingest loses no point, {r['mode']}", f"{r['stored']:,} of {r['points']:,} in SQLite",
                                "all acknowledged points recorded", lossless)]
    columns = ["batch", "points", "seconds", "points/s", "stored", "seq ids 0..n-1", "reader saw all",
               "values intact"]
    rows = [[r["batch"], r["points"], f"{r['seconds']:.2f}", f"{r['points_per_s']:,.0f}", r["stored"],
             r["ids_ok"], r["reader_ok"], r["values_ok"]] for r in runs]
    notes = ["app.store.memory.MemoryStore.append(ts, value, prob) with numpy columns, one writer thread, "
             "one reader thread polling since(cursor) every 1 ms (like the recorder and the ticks); "
             "capacity = points appended, so 'stored' counts every point kept.",
             f"Store + recorder: batches of 100 appended, a SQLite flush every 1000 batches, then the last one; "
             f"{recorded['points']:,} points in {recorded['seconds']:.2f} s = {recorded['points_per_s']:,.0f} /s, "
             f"{recorded['stored']:,} rows in SQLite.",
             f"HTTP: {HTTP_CLIENTS} keep-alive clients POST batches of {HTTP_BATCH} to gunicorn (1 gthread worker, "
             f"LINEWATCH_SOURCE=http); each 201 comes once the points are on disk. {over_http['points']:,} points "
             f"acknowledged in {over_http['seconds']:.1f} s = {over_http['points_per_s']:,.0f} /s, "
             f"{over_http['failures']} failed requests, {over_http['stored']:,} rows in SQLite."]
    return report.result("ingest", quick, checks, columns, rows, notes,
                         {"runs": runs, "recorded": recorded, "http": over_http})
