"""Ingest: points per second LineWatch's in-memory store accepts, with a concurrent reader; no point lost."""
import threading
import time

import numpy as np

from . import report

BATCHES = (100, 1000)
MIN_RATE = 50_000


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


def run(quick):
    total = 2_000_000 if quick else 10_000_000
    runs = [measure(b, total) for b in BATCHES]
    checks = []
    for r in runs:
        lossless = r["stored"] == r["points"] and r["ids_ok"] and r["reader_ok"] and r["values_ok"]
        checks += [report.check(f"ingest rate, batches of {r['batch']}", f"{r['points_per_s']:,.0f} /s",
                                f"≥ {MIN_RATE:,} /s", r["points_per_s"] >= MIN_RATE),
                   report.check(f"ingest loses no point, batches of {r['batch']}",
                                f"{r['stored']:,} of {r['points']:,} stored", "all, in order", lossless)]
    columns = ["batch", "points", "seconds", "points/s", "stored", "seq ids 0..n-1", "reader saw all",
               "values intact"]
    rows = [[r["batch"], r["points"], f"{r['seconds']:.2f}", f"{r['points_per_s']:,.0f}", r["stored"],
             r["ids_ok"], r["reader_ok"], r["values_ok"]] for r in runs]
    notes = ["app.store.memory.MemoryStore.append(ts, value, prob) with numpy columns, one writer thread, "
             "one reader thread polling since(cursor) every 1 ms (like the recorder and the ticks); "
             "capacity = points appended, so 'stored' counts every point kept."]
    return report.result("ingest", quick, checks, columns, rows, notes, {"runs": runs})
