"""Soak: 10 lines x 10 readings/s POSTed to gunicorn, 4 Chromium tabs, retention deleting all along.

After a warm-up, samples server RSS, the tabs' JS heap, the SQLite files' size and the server's open
file handles; each must stay within ±10 %. At the end, every acknowledged (201) reading must be in
the history, except those the retention was entitled to delete (older than its cutoff).
"""
import http.client
import json
import os
import sqlite3
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from . import procstat, report, servers
from .apps import LINEWATCH
from .browsers import Viewer, chromium
from .memory import MAX_GROWTH, growth

LINES = 10
RATE = 10          # readings per second per line, POSTed once a second as a batch of RATE
TABS = 4
# The smallest retention LineWatch accepts (86.4 s); the recorder enforces it every 60 s, so the
# history holds 86-146 s of readings and the SQLite file stops growing after about 150 s.
RETENTION_DAYS = 0.001
DB = "linewatch.sqlite3"


class Feeder:
    """One thread per line (line-1 .. line-10; the tabs show line-1, the default), each POSTing
    RATE readings (explicit ts 1/RATE s apart) every second."""

    def __init__(self, base):
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.acked = {f"line-{n + 1}": [] for n in range(LINES)}   # per line: (first seq, last seq, oldest ts)
        self.failures = {line: [] for line in self.acked}       # per line: (status or error, time)
        self.late = 0                                            # batches sent over 0.5 s behind schedule
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, args=(line, n), daemon=True)
                         for n, line in enumerate(self.acked)]

    def start(self):
        for thread in self._threads:
            thread.start()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _feed(self, line, n):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        next_at = time.monotonic() + n / LINES  # lines spread over the second
        k = 0
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -0.5:
                self.late += 1
            now = time.time()
            points = [{"ts": now - (RATE - 1 - i) / RATE, "value": 40 + (k + i) % 20, "line": line,
                       "defect_prob": ((k + i) % 97) / 100} for i in range(RATE)]
            try:
                connection.request("POST", "/api/v1/points", json.dumps(points),
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                body = response.read()
                if response.status == 201:
                    first, last = json.loads(body)["seqs"][line]
                    self.acked[line].append((first, last, points[0]["ts"]))
                else:
                    self.failures[line].append((response.status, now))
            except (OSError, http.client.HTTPException) as exc:
                self.failures[line].append((type(exc).__name__, now))
                connection.close()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
            k += RATE
            next_at += 1.0
        connection.close()


def open_fds(root):
    """Open file descriptors summed over the gunicorn tree (/proc/PID/fd)."""
    total = 0
    for pid in procstat.tree(root):
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return total


def sqlite_bytes(data):
    """Size of the history: the database file plus its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in Path(data).glob(DB + "*"))


def audit(data, feeder):
    """Compare the acknowledged readings with the history, line by line (the server stopped)."""
    cutoff = time.time() - RETENTION_DAYS * 86400  # anything younger than this must still be there
    out = {}
    with sqlite3.connect(Path(data) / DB) as db:
        for line, batches in feeder.acked.items():
            acked = {seq for first, last, _ in batches for seq in range(first, last + 1)}
            must_keep = {seq for first, last, ts in batches if ts >= cutoff for seq in range(first, last + 1)}
            stored = {row[0] for row in db.execute("SELECT seq FROM points WHERE line = ?", (line,))}
            oldest = min(stored) if stored else None
            out[line] = {"acknowledged": len(acked), "in_history": len(stored),
                         "removed_by_retention": len({s for s in acked - stored if oldest is None or s < oldest}),
                         # lost: acknowledged, not in the history, and not removable (younger than the
                         # cutoff, or inside the span the history still holds)
                         "lost": len((must_keep - stored) | {s for s in acked - stored if oldest is not None
                                                             and s > oldest}),
                         "not_acknowledged_but_stored": len(stored - acked),
                         "failed_requests": len(feeder.failures[line])}
    return out


def measure(minutes, warmup, every):
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as data:
        env = {**LINEWATCH.env, "LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": data,
               "LINEWATCH_RETENTION_DAYS": f"{RETENTION_DAYS:g}", "LINEWATCH_PERIOD": "1"}
        with servers.gunicorn(LINEWATCH.target, env, log_path=f"{data}/gunicorn.log") as (proc, base), \
                chromium() as browser:
            feeder = Feeder(base)
            feeder.start()
            try:
                viewers = [Viewer(browser, base + "/") for _ in range(TABS)]
                for viewer in viewers:
                    viewer.wait_for_callback(LINEWATCH.tick_output)
                viewers[0].wait(warmup)
                samples, t0 = [], time.monotonic()
                while True:
                    elapsed = time.monotonic() - t0
                    heaps = [v.js_heap() for v in viewers]
                    samples.append({"t_s": round(elapsed, 1), "server_rss": procstat.rss_bytes(proc.pid),
                                    "js_heap": sum(heaps), "js_heap_tabs": heaps,
                                    "sqlite_bytes": sqlite_bytes(data), "open_fds": open_fds(proc.pid),
                                    "acked": sum(len(b) for b in feeder.acked.values()) * RATE,
                                    "ticks": sum(sum(v.callbacks.values()) for v in viewers)})
                    if elapsed >= minutes * 60:
                        break
                    viewers[0].wait(min(every, minutes * 60 - elapsed))
                errors = [e for v in viewers for e in v.errors][:20]
            finally:
                feeder.stop()
            ready = readyz_status(base)
        lines = audit(data, feeder)  # the server has stopped: no retention pass runs while counting
    return {"samples": samples, "lines": lines, "console_errors": errors, "late_batches": feeder.late,
            "readyz_at_end": ready}


def readyz_status(base):
    """/readyz's HTTP status (or the error) once the load has stopped."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            return r.status
    except OSError as exc:
        return getattr(exc, "code", str(exc))


def run(quick):
    # quick: the warm-up must cover the first retention cycles (the file's peak is reached at ~181 s)
    minutes, warmup, every = (2, 190, 10) if quick else (30, 300, 30)
    r = measure(minutes, warmup, every)
    series, lines = r["samples"], r["lines"]
    totals = {k: sum(v[k] for v in lines.values()) for k in next(iter(lines.values()))}
    checks = []
    for key, label in (("server_rss", "server RSS"), ("js_heap", f"browser JS heap ({TABS} tabs)"),
                       ("sqlite_bytes", "SQLite size (db + WAL)"), ("open_fds", "server open file handles")):
        g = growth(series, key)
        r[f"{key}_growth"] = g
        checks.append(report.check(f"soak: {label} growth over {minutes} min after warm-up",
                                   f"{100 * g:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%", abs(g) <= MAX_GROWTH))
    checks.append(report.check(
        "soak: acknowledged readings lost", f"{totals['lost']} lost of {totals['acknowledged']:,} acknowledged "
        f"({totals['in_history']:,} in history, {totals['removed_by_retention']:,} removed by retention)",
        "0 lost, 0 failed requests", totals["lost"] == 0 and totals["failed_requests"] == 0
        and totals["not_acknowledged_but_stored"] == 0))
    columns = ["t (s after warm-up)", "server RSS MB", f"JS heap MB ({TABS} tabs)", "SQLite MB",
               "open fds", "readings acknowledged", "tick callbacks"]
    step = -(-len(series) // 10)
    rows = [[s["t_s"], f"{s['server_rss'] / 1e6:.1f}", f"{s['js_heap'] / 1e6:.2f}",
             f"{s['sqlite_bytes'] / 1e6:.2f}", s["open_fds"], s["acked"], s["ticks"]]
            for i, s in enumerate(series) if i % step == 0 or i == len(series) - 1]
    notes = [f"{LINES} lines x {RATE} readings/s POSTed over HTTP (one keep-alive client thread per line, one "
             f"batch of {RATE} readings with explicit ts {1 / RATE:g} s apart every second) to gunicorn "
             "(1 gthread worker, 8 threads, LINEWATCH_SOURCE=http, period 1 s); "
             f"{TABS} headless Chromium tabs on the dashboard; LINEWATCH_RETENTION_DAYS={RETENTION_DAYS:g} "
             "(86 s, enforced by the recorder every 60 s, so retention deletes all along). "
             f"Warm-up {warmup} s, then {minutes} min sampled every {every} s; growth = median of the last "
             "20 % of samples over that of the first 20 % (as the memory experiment).",
             "Server RSS and open fds summed over the gunicorn tree (/proc/PID/statm, /proc/PID/fd); JS heap "
             "= JSHeapUsedSize after a forced GC (CDP), summed over the tabs; SQLite = linewatch.sqlite3 + "
             "-wal + -shm.",
             "Lost = acknowledged (201) readings missing from the history's points table that retention had "
             "no right to delete (younger than its cutoff at the end, or inside the span still held); "
             f"failed requests {totals['failed_requests']}, batches sent over 0.5 s late {r['late_batches']}, "
             f"/readyz at the end {r['readyz_at_end']}."]
    if r["console_errors"]:
        notes.append(f"browser console errors: {r['console_errors'][:3]}")
    return report.result("soak", quick, checks, columns, rows, notes, r)
