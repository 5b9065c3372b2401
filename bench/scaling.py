"""Window scaling: LineWatch's per-tick cost for 1k, 10k and 100k-point windows, 1 new point per tick.

In-process: the pure builder ``callbacks.tick.build_tick`` and a full Dash request through
``server.test_client()``. The source and recorder threads are stopped so the store receives only
the benchmark's points and nothing else competes for the interpreter.
"""
import statistics
import tempfile
import time
import timeit

import numpy as np

WINDOWS = (1_000, 10_000, 100_000)
MAX_RATIO = 1.2
URL = "/_dash-update-component"


def _points(n, start_ts):
    rng = np.random.default_rng(n)
    return start_ts + np.arange(n) * 0.2, rng.normal(0.42, 0.05, n), rng.random(n)


def tick_request(window, n, cursor):
    """The body the browser POSTs for a tick (ids from layouts.ids)."""
    from layouts import ids
    changed = f"{ids.TICK_INTERVAL}.n_intervals"
    return {"output": f"{ids.TICK}.data", "outputs": {"id": ids.TICK, "property": "data"},
            "inputs": [{"id": ids.TICK_INTERVAL, "property": "n_intervals", "value": n},
                       {"id": ids.WINDOW, "property": "value", "value": window}],
            "changedPropIds": [changed], "parsedChangedPropsIds": [changed],
            "state": [{"id": ids.CURSOR, "property": "data", "value": cursor},
                      {"id": ids.ALARM_VERSION, "property": "data", "value": None},
                      {"id": ids.LINE_ID, "property": "data", "value": "line-1"},
                      {"id": ids.LINES_VERSION, "property": "data", "value": None}]}


class Bench:
    """One LineWatch app whose store holds ``window`` points and receives 1 point per tick."""

    def __init__(self, window, data_dir):
        from app.web import create_app
        from app.config import Config
        self.window = window
        server = create_app(Config.from_env({"LINEWATCH_DATA_DIR": data_dir,
                                             "LINEWATCH_WINDOW": str(window)})).server
        runtime = server.extensions["linewatch"]
        runtime.ensure_started()  # what the first request would do; then silence the threads
        runtime.source.stop()
        runtime.recorder.stop()
        self.runtime = runtime
        self.store = runtime.store
        self.client = server.test_client()
        self.ts = time.time() - window * 0.2
        self.store.append(*_points(window, self.ts))
        runtime.recorder.flush()  # record the pre-fill now, not while ticks are timed
        self.ts += window * 0.2
        self.n = 0
        self.cursor = self.request(None)["cursor"]  # the first tick sends the whole window

    def close(self):
        """Stop the runtime (records the benchmark's points) while the data dir still exists."""
        self.runtime.stop()

    def _append_one(self):
        self.ts += 0.2
        self.store.append([self.ts], [0.42], [0.1])

    def request(self, cursor):
        self.n += 1
        resp = self.client.post(URL, json=tick_request(self.window, self.n, cursor))
        assert resp.status_code == 200, resp.status_code
        return resp.get_json()["response"]["tick"]["data"]

    def full_tick_us(self):
        """Append one point, then time one full Dash request with the previous cursor."""
        self._append_one()
        t0 = time.perf_counter()
        data = self.request(self.cursor)
        elapsed = time.perf_counter() - t0
        assert len(data["ts"]) == 1 and not data.get("reset"), (len(data["ts"]), data.get("reset"))
        self.cursor = data["cursor"]
        return elapsed * 1e6

    def builder_tick_us(self):
        """Append one point, then time ``build_tick`` alone with the previous cursor."""
        from app.sources import SourceHealth
        from callbacks.tick import build_tick
        self._append_one()
        health = SourceHealth("running")
        t0 = time.perf_counter()
        data = build_tick(self.store, self.cursor, self.window, False, health, time.time())
        elapsed = time.perf_counter() - t0
        assert len(data["ts"]) == 1, len(data["ts"])
        self.cursor = data["cursor"]
        return elapsed * 1e6


def run(quick):
    from . import report
    rounds, per_round = (10, 100) if quick else (20, 250)
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        benches = [Bench(w, f"{tmp}/{w}") for w in WINDOWS]
        full = {w: [] for w in WINDOWS}
        builder = {w: [] for w in WINDOWS}
        for _ in range(rounds):  # interleave windows so drift hits all alike
            for b in benches:
                full[b.window] += [b.full_tick_us() for _ in range(per_round)]
                builder[b.window] += [b.builder_tick_us() for _ in range(per_round)]
        stats_us = min(timeit.repeat(benches[0].store.stats, number=100, repeat=3)) / 100 * 1e6
        for b in benches:
            b.close()
    med = lambda xs: statistics.median(xs)
    ratio = med(full[WINDOWS[-1]]) / med(full[WINDOWS[0]])
    builder_ratio = med(builder[WINDOWS[-1]]) / med(builder[WINDOWS[0]])
    print(f"  full request 100k/1k ratio {ratio:.2f}; builder ratio {builder_ratio:.2f}")
    checks = [report.check("per-tick cost 100k/1k window (full Dash request, median)", f"{ratio:.2f}",
                           f"≤ {MAX_RATIO}", ratio <= MAX_RATIO)]
    columns = ["window", "full request µs (median)", "full request µs (p90)", "build_tick µs (median)",
               "build_tick µs (p90)", "ticks"]
    p90 = lambda xs: float(np.percentile(xs, 90))
    rows = [[w, f"{med(full[w]):.0f}", f"{p90(full[w]):.0f}", f"{med(builder[w]):.1f}",
             f"{p90(builder[w]):.1f}", len(full[w])] for w in WINDOWS]
    notes = [f"build_tick 100k/1k ratio {builder_ratio:.2f} (informational). Each tick carries exactly 1 "
             "new point (appended before the tick, asserted in the response); the first, full-window tick "
             f"is not timed; {rounds} interleaved rounds of {per_round} ticks per window.",
             f"Each tick calls MemoryStore.stats() (per-second append counters: its cost does not grow with "
             f"the append rate); it took {stats_us:.0f} µs per call after the run."]
    summary = lambda xs: dict(zip(("p10", "p50", "p90", "p99"), np.percentile(xs, [10, 50, 90, 99]).round(1)))
    data = {"full_us": {w: summary(full[w]) for w in WINDOWS},
            "builder_us": {w: summary(builder[w]) for w in WINDOWS}, "store_stats_us": stats_us}
    return report.result("scaling", quick, checks, columns, rows, notes, data)
