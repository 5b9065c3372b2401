"""A plant: 100 lines at 10 readings/s each over HTTP, the overview in a few Chromium tabs and one line page.

Reports the server's CPU per minute, the overview tick's latency and bytes, the overview tab's main
thread and frames, and readings lost (acknowledged but missing from the history).
"""
import http.client
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from . import procstat, report, servers
from .bigwindow import FRAMES_JS
from .browsers import chromium

LINES = 100
RATE = 10                  # readings per second per line
GATEWAYS = 10              # clients, each POSTing its LINES // GATEWAYS lines' readings once a second in one batch
OVERVIEW_TABS = 3
OVERVIEW_TICK = "overview-tick.data"
LINE_TICK = "tick.data"
MAX_P95_S = 0.1            # the brief's tick latency target
MAX_BUSY, MIN_FPS = 0.25, 30  # the big-window targets: a tab that stays smooth
DB = "linewatch.sqlite3"


def line_id(n):
    return f"line-{n + 1:03}"


class Gateways:
    """GATEWAYS keep-alive clients; each second each POSTs RATE readings (ts 1/RATE s apart) for each of its lines."""

    def __init__(self, base):
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.acked = {line_id(n): set() for n in range(LINES)}  # per line: the acknowledged sequence ids
        self.failures = []                                     # (status or error, time)
        self.late = 0                                          # batches sent over 0.5 s behind schedule
        self._lock = threading.Lock()
        self._stop = threading.Event()
        per = LINES // GATEWAYS
        self._threads = [threading.Thread(target=self._feed, args=(g, [line_id(g * per + i) for i in range(per)]),
                                          daemon=True) for g in range(GATEWAYS)]

    def start(self):
        for thread in self._threads:
            thread.start()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _feed(self, g, lines):
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        next_at = time.monotonic() + g / GATEWAYS  # gateways spread over the second
        rng = np.random.default_rng(g)
        level = rng.uniform(20, 80, len(lines))  # each line's own random walk with noise, as sensors drift
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -0.5:
                self.late += 1
            now = time.time()
            level += rng.normal(0, 0.5, len(lines))
            values = np.round(level[:, None] + rng.normal(0, 1.0, (len(lines), RATE)), 3)
            probs = np.round(rng.beta(1, 20, (len(lines), RATE)), 4)
            points = [{"ts": now - (RATE - 1 - i) / RATE, "value": float(values[n, i]), "line": line,
                       "defect_prob": float(probs[n, i])} for n, line in enumerate(lines) for i in range(RATE)]
            try:
                connection.request("POST", "/api/v1/points", json.dumps(points), {"Content-Type": "application/json"})
                response = connection.getresponse()
                body = response.read()
                if response.status == 201:
                    with self._lock:
                        for line, (first, last) in json.loads(body)["seqs"].items():
                            self.acked[line].update(range(first, last + 1))
                else:
                    self.failures.append((response.status, now))
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append((type(exc).__name__, now))
                connection.close()
                connection = http.client.HTTPConnection(*self.address, timeout=10)
            next_at += 1.0
        connection.close()


def lost(data, acked):
    """Acknowledged readings missing from the history, and readings stored, per line (the server stopped)."""
    with sqlite3.connect(Path(data) / DB) as db:
        stored = {}
        for line, seq in db.execute("SELECT line, seq FROM points"):
            stored.setdefault(line, set()).add(seq)
    return {line: len(seqs - stored.get(line, set())) for line, seqs in acked.items()}, \
        sum(len(s) for s in stored.values())


class Tab:
    """One page in its own browser context, keeping its finished tick requests of ``output``."""

    def __init__(self, browser, url, output):
        self.context = browser.new_context(viewport={"width": 1600, "height": 900})
        self.page = self.context.new_page()
        self.output = output
        self.ticks = []  # finished tick requests
        self.errors = []
        self.page.on("requestfinished", self._finished)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, wait_until="load")

    def _finished(self, request):
        if request.method == "POST" and f'"{self.output}"' in (request.post_data or ""):
            self.ticks.append((time.monotonic(), request))

    def wait_ticks(self, count, timeout=60.0):
        deadline = time.monotonic() + timeout
        while len(self.ticks) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.output}: {len(self.ticks)} ticks within {timeout:g} s")
            self.page.wait_for_timeout(200)

    def latencies(self, since):
        """Seconds from sending to the last byte of each tick finished after ``since`` (monotonic)."""
        return [request.timing["responseEnd"] / 1000 for at, request in self.ticks if at >= since]


def overview_server_time(base):
    """(sum of seconds, count) of the overview ticks the server answered (its /metrics histogram)."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = dict(line.rsplit(" ", 1) for line in text.splitlines()
                 if 'page="overview"' in line and "_bucket" not in line)
    return (float(found['linewatch_tick_duration_seconds_sum{page="overview"}']),
            float(found['linewatch_tick_duration_seconds_count{page="overview"}']))


def changed_tiles(ticks):
    """Per pair of consecutive overview ticks: (tiles that differ or are new, whether the order changed)."""
    out = []
    for before, after in zip(ticks, ticks[1:]):
        old = {t["id"]: t for t in before.get("tiles", [])}
        tiles = after.get("tiles", [])
        out.append((sum(old.get(t["id"]) != t for t in tiles), [t["id"] for t in tiles] != list(old)))
    return out


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(warmup, duration, every):
    with tempfile.TemporaryDirectory(prefix="bench-plant-") as data:
        env = {"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": data, "LINEWATCH_PERIOD": "1"}
        with servers.gunicorn("app.wsgi:server", env, 8, f"{data}/gunicorn.log") as (proc, base), \
                chromium() as browser:
            gateways = Gateways(base)
            gateways.start()
            try:
                tabs = [Tab(browser, base + "/", OVERVIEW_TICK) for _ in range(OVERVIEW_TABS)]
                tabs.append(Tab(browser, f"{base}/line/{line_id(0)}", LINE_TICK))
                for tab in tabs:
                    tab.wait_ticks(2)
                watched = tabs[0].page
                watched.evaluate(FRAMES_JS)
                cdp = tabs[0].context.new_cdp_session(watched)
                cdp.send("Performance.enable")
                watched.wait_for_timeout(warmup * 1000)
                tiles = watched.evaluate("document.querySelectorAll('#overview-tiles .lw-tile').length")
                start, cpu0, load = time.monotonic(), procstat.cpu_seconds(proc.pid), [os.getloadavg()[0]]
                served0 = overview_server_time(base)
                samples = []
                while True:
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    samples.append({"wall_s": time.monotonic(), "task_s": metrics["TaskDuration"],
                                    "frames": watched.evaluate("window.__lwFrames")})
                    if samples[-1]["wall_s"] - start >= duration:
                        break
                    watched.wait_for_timeout(every * 1000)
                elapsed, cpu = time.monotonic() - start, procstat.cpu_seconds(proc.pid) - cpu0
                served = [b - a for a, b in zip(served0, overview_server_time(base))]
                load.append(os.getloadavg()[0])
                overview = [s for tab in tabs[:OVERVIEW_TABS] for s in tab.latencies(start)]
                line_page = tabs[-1].latencies(start)
                recent = [request for at, request in tabs[0].ticks if at >= start][-20:]
                wire = [request.sizes()["responseBodySize"] for request in recent]
                answers = [request.response().body() for request in recent]
                body = [len(answer) for answer in answers]
                changed = changed_tiles([json.loads(a)["response"]["overview-tick"]["data"] for a in answers])
                errors = [e for tab in tabs for e in tab.errors][:20]
                for tab in tabs:
                    tab.context.close()
            finally:
                gateways.stop()
        missing, stored = lost(data, gateways.acked)
    intervals = [{"busy": (b["task_s"] - a["task_s"]) / (b["wall_s"] - a["wall_s"]),
                  "fps": (b["frames"] - a["frames"]) / (b["wall_s"] - a["wall_s"])}
                 for a, b in zip(samples, samples[1:])]
    return {"tiles": tiles, "elapsed_s": elapsed, "server_cpu_s": cpu, "cpu_per_min": cpu / elapsed * 60,
            "overview_latency_s": overview, "line_latency_s": line_page,
            "overview_server_mean_s": served[0] / max(1, served[1]),
            "overview_wire_bytes": wire, "overview_body_bytes": body, "changed_tiles": changed,
            "busy": statistics.median(i["busy"] for i in intervals), "busy_max": max(i["busy"] for i in intervals),
            "fps": statistics.median(i["fps"] for i in intervals), "fps_min": min(i["fps"] for i in intervals),
            "acknowledged": sum(len(s) for s in gateways.acked.values()), "stored": stored,
            "lost": sum(missing.values()), "failed_requests": len(gateways.failures), "late_batches": gateways.late,
            "load_1min": load, "console_errors": errors}


def run(quick):
    warmup, duration, every = (15, 60, 10) if quick else (30, 300, 30)
    r = measure(warmup, duration, every)
    lat, line_lat = r["overview_latency_s"], r["line_latency_s"]
    p50, p95 = percentile(lat, 0.5), percentile(lat, 0.95)
    wire, body = statistics.median(r["overview_wire_bytes"]), statistics.median(r["overview_body_bytes"])
    checks = [
        report.check("plant: readings lost (100 lines x 10/s over HTTP)",
                     f"{r['lost']} lost of {r['acknowledged']:,} acknowledged, {r['failed_requests']} failed requests",
                     "0 lost, 0 failed", r["lost"] == 0 and r["failed_requests"] == 0),
        report.check("plant: overview tick latency p95 (browser, send to last byte)",
                     f"{1000 * p95:.0f} ms (p50 {1000 * p50:.0f} ms, {len(lat)} ticks; server time mean "
                     f"{1000 * r['overview_server_mean_s']:.1f} ms)", f"< {1000 * MAX_P95_S:g} ms",
                     p95 < MAX_P95_S),
        report.check("plant: overview tab main thread busy", f"{100 * r['busy']:.0f}%", f"< {100 * MAX_BUSY:g}%",
                     r["busy"] < MAX_BUSY),
        report.check("plant: overview tab frames/s", f"{r['fps']:.0f}", f"≥ {MIN_FPS}", r["fps"] >= MIN_FPS),
        report.info("plant: server CPU per minute (gunicorn: ingest + 4 tabs' ticks)", f"{r['cpu_per_min']:.1f} CPU-s"),
        report.info("plant: bytes per overview tick (100 tiles)", f"{wire / 1000:.1f} kB on the wire (gzip), "
                    f"{body / 1000:.1f} kB JSON"),
        report.info("plant: tiles changed per overview tick (median; ticks whose order changed)",
                    f"{statistics.median(n for n, _ in r['changed_tiles']):.0f} of {r['tiles']}; "
                    f"{sum(moved for _, moved in r['changed_tiles'])} of {len(r['changed_tiles'])}"),
    ]
    columns = ["tiles shown", "server CPU-s per min", "overview tick p50 / p95 (ms)", "line page tick p50 / p95 (ms)",
               "overview tick bytes: wire / JSON (median)", "overview tab busy (median, max)",
               "frames/s (median, min)", "readings acknowledged / lost", "load avg 1 min (start → end)"]
    rows = [[r["tiles"], f"{r['cpu_per_min']:.1f}", f"{1000 * p50:.0f} / {1000 * p95:.0f}",
             f"{1000 * percentile(line_lat, 0.5):.0f} / {1000 * percentile(line_lat, 0.95):.0f}",
             f"{wire:,.0f} / {body:,.0f}", f"{100 * r['busy']:.0f} %, {100 * r['busy_max']:.0f} %",
             f"{r['fps']:.0f}, {r['fps_min']:.0f}", f"{r['acknowledged']:,} / {r['lost']}",
             " → ".join(f"{x:.2f}" for x in r["load_1min"])]]
    notes = [f"{LINES} lines x {RATE} readings/s POSTed to gunicorn (1 gthread worker, 8 threads, "
             "LINEWATCH_SOURCE=http, "
             f"period 1 s) by {GATEWAYS} keep-alive gateway clients, each POSTing one batch of "
             f"{LINES // GATEWAYS * RATE} readings ({LINES // GATEWAYS} lines) a second; {OVERVIEW_TABS} headless "
             f"Chromium tabs on the overview and one on {line_id(0)}'s page. After a {warmup} s warm-up, "
             f"{duration} s measured: server CPU = utime + stime of the gunicorn tree; tick latency = the browser's "
             "request timing (send to response end) of every overview tab's ticks; bytes = the last 20 overview "
             "ticks of one tab (wire: gzipped body); busy and frames/s of that tab as in the bigwindow experiment "
             f"(CDP TaskDuration, requestAnimationFrame; sampled every {every} s). Lost = acknowledged (201) "
             "readings missing from SQLite once the server has stopped.",
             f"Batches sent over 0.5 s late: {r['late_batches']}; readings in the history: {r['stored']:,}. The "
             "feeders and Chromium run on the same 2 cores as the server."]
    if r["console_errors"]:
        notes.append(f"browser console errors: {r['console_errors'][:3]}")
    return report.result("plant", quick, checks, columns, rows, notes, r)
