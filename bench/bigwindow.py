"""Big windows in the browser: main-thread busy, frames/s and JS heap of one Chromium tab showing a
full 1k, 10k or 100k-point window while 10 readings/s stream in at the 1 s tick."""
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import traceback

import numpy as np

from app.points import DEFAULT_LINE, Thresholds
from app.recorder import Recorder
from app.sources.simulator import SensorModel
from app.store import LineStores

from . import report, servers
from .browsers import chromium
from .memory import growth

SIZES = (1_000, 10_000, 100_000)
SIZES_ENV = "BIGWINDOW_SIZES"  # e.g. "10000" or "1000,100000": measure only these (bench/README.md)
RATE = 10            # readings per second (simulator)
MAX_BUSY = 0.25      # share of wall time the renderer's main thread runs tasks
MIN_FPS = 30
MAX_GROWTH = 0.10
# Counts requestAnimationFrame callbacks into window.__lwFrames while on (the argument; default on).
# The counter makes the page draw a frame every vsync, which costs the main thread about 1-3 points of
# busy on top of the page's own work (bench/README.md): bigwindow counts frames and measures busy in
# alternate intervals, so neither figure carries the other's instrument.
FRAMES_JS = """(on = true) => { window.__lwFrames = window.__lwFrames || 0; window.__lwCounting = on;
  if (on && !window.__lwCounter) { window.__lwCounter = true;
    const count = () => { if (!window.__lwCounting) { window.__lwCounter = false; return; }
      window.__lwFrames += 1; requestAnimationFrame(count); };
    requestAnimationFrame(count); } }"""
TICK_OUTPUT = "tick.data"
DRAWN_JS = "() => document.querySelector('#chart .js-plotly-plot')?.data?.[0]?.x?.length > 0"


def wait_drawn(page, timeout=180.0):
    """Until the chart shows readings (polled with evaluate: the app's CSP forbids the eval that
    Playwright's wait_for_function needs)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(DRAWN_JS):
        if time.monotonic() > deadline:
            raise RuntimeError(f"chart not drawn within {timeout:g} s")
        page.wait_for_timeout(200)


def seed(data_dir, points):
    """Recorded history of ``points`` simulated readings, RATE per second, ending now: the app
    restores it at start, so the window is full from the first tick."""
    ts = time.time() - np.arange(points, 0, -1) / RATE
    values, probs = SensorModel(np.random.default_rng(14)).readings(ts, 1 / RATE)
    stores = LineStores(points)
    stores.get(DEFAULT_LINE).append(ts, values, probs)
    Recorder(data_dir, stores, Thresholds(0.5, 0.5)).flush()


def _metrics(cdp):
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _is_tick(response):
    return "_dash-update-component" in response.url and TICK_OUTPUT in (response.request.post_data or "")


def measure(browser, size, warmup, duration, every):
    """Serve LineWatch with a full ``size``-point window; sample one tab's counters every ``every`` s."""
    with tempfile.TemporaryDirectory(prefix="bench-bigwindow-") as tmp:
        seed(tmp, size)
        env = {"LINEWATCH_DATA_DIR": tmp, "LINEWATCH_WINDOW": str(size), "LINEWATCH_SIM_RATE": str(RATE),
               "LINEWATCH_PERIOD": "1"}
        with servers.gunicorn("app.wsgi:server", env, 8, os.path.join(tmp, "gunicorn.log")) as (_, base):
            context = browser.new_context(viewport={"width": 1600, "height": 900})
            page = context.new_page()
            errors = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            with page.expect_response(_is_tick, timeout=60_000) as first:
                page.goto(base.rstrip("/") + "/line/line-1", wait_until="load")  # the line dashboard
            first_points = len(first.value.json()["response"]["tick"]["data"]["ts"])
            t_load = time.monotonic()
            wait_drawn(page)
            first_draw_s = time.monotonic() - t_load
            page.evaluate(FRAMES_JS, False)  # frames counted from 0, in the intervals ``counting`` picks
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.wait_for_timeout(warmup * 1000)
            load = [os.getloadavg()[0]]
            samples = []
            t0 = None  # the first sample's time: on a busy tab a sample itself takes seconds
            while True:
                cdp.send("HeapProfiler.collectGarbage")
                m, frames, now = _metrics(cdp), page.evaluate("window.__lwFrames"), time.monotonic()
                t0 = now if t0 is None else t0
                samples.append({"t_s": round(now - t0, 1), "task_s": m["TaskDuration"], "cpu_s": m["ThreadTime"],
                                "frames": frames,
                                "wall_s": now, "js_heap": int(m["JSHeapUsedSize"])})
                if now - t0 >= duration:
                    break
                page.evaluate(FRAMES_JS, counting(len(samples) - 1))
                page.wait_for_timeout(every * 1000)
            load.append(os.getloadavg()[0])
            context.close()
    intervals = [{"counting": counting(k), "busy": (b["task_s"] - a["task_s"]) / (b["wall_s"] - a["wall_s"]),
                  "cpu": (b["cpu_s"] - a["cpu_s"]) / (b["wall_s"] - a["wall_s"]),
                  "fps": (b["frames"] - a["frames"]) / (b["wall_s"] - a["wall_s"])}
                 for k, (a, b) in enumerate(zip(samples, samples[1:]))]
    # each interval starts just after the forced GC of its first sample, which it then includes:
    # the GC is short next to ``every`` seconds and happens equally at every size
    quiet = [i for i in intervals if not i["counting"]]  # busy and CPU without the frame counter
    counted = [i for i in intervals if i["counting"]] or intervals
    return {"size": size, "first_tick_points": first_points, "first_draw_s": first_draw_s,
            "samples": samples, "intervals": intervals,
            "busy": statistics.median(i["busy"] for i in quiet),
            "busy_max": max(i["busy"] for i in quiet),
            "busy_counting": statistics.median(i["busy"] for i in counted),
            "cpu": statistics.median(i["cpu"] for i in quiet),
            "fps": statistics.median(i["fps"] for i in counted),
            "fps_min": min(i["fps"] for i in counted),
            "js_heap_growth": growth(samples, "js_heap"), "load_1min": load, "console_errors": errors[:20],
            "measured_at": dt.datetime.now().isoformat(timespec="seconds")}


def counting(interval):
    """Whether frames are counted in the ``interval``-th interval (every other one, from the second)."""
    return interval % 2 == 1


def sizes():
    """The window sizes to measure: BIGWINDOW_SIZES (comma-separated), else all of SIZES."""
    raw = os.environ.get(SIZES_ENV, "")
    return tuple(int(part) for part in raw.split(",") if part.strip()) or SIZES


def earlier_runs(quick):
    """The sizes measured by an earlier run of this mode (kept when a run measures only some sizes)."""
    try:
        with open(os.path.join(report.RESULTS, "bigwindow.json")) as f:
            record = json.load(f)
    except FileNotFoundError:
        return []
    if record["mode"] != ("quick" if quick else "full"):
        return []
    return [{"measured_at": record["finished"], **r} for r in record["data"].get("runs", [])]


def run(quick):
    """Measure each size in turn; the record is saved after each one, so a size that fails or a run
    cut short keeps the sizes measured before it (and those of an earlier run not measured now)."""
    # (warm-up, duration, every) in s.  Full: the heap is compared once V8 has compiled the page's hot
    # code: heap snapshots of a 1k window showed V8 code growing ~2.6 MB in its first 8 minutes
    # and JS objects ~0.2 MB (bench/README.md), so a 30 s warm-up measured the JIT, not the page.
    settings = (15, 40, 10) if quick else (300, 600, 30)
    runs, failures = earlier_runs(quick), {}
    with chromium() as browser:
        for size in sizes():
            runs = [r for r in runs if r["size"] != size]
            try:
                runs = sorted(runs + [measure(browser, size, *settings)], key=lambda r: r["size"])
                failures.pop(size, None)
            except Exception as exc:  # recorded as this size's failure; the other sizes still run
                traceback.print_exc()
                failures[size] = f"{type(exc).__name__}: {exc}"
            report.save(record(quick, runs, failures, *settings))
            report.render()
    return record(quick, runs, failures, *settings)


def record(quick, runs, failures, warmup, duration, every):
    """The experiment's record from the sizes measured (``runs``) and those that failed."""
    checks = [report.check(f"bigwindow ran, {size:,}-point window", error, "no error", False)
              for size, error in sorted(failures.items())]
    for r in runs:
        n = f"{r['size']:,}"
        checks += [
            report.check(f"main thread busy, {n}-point window", f"{100 * r['busy']:.0f}%",
                         f"< {100 * MAX_BUSY:g}%", r["busy"] < MAX_BUSY),
            report.info(f"main thread CPU time (ThreadTime) share, {n}-point window", f"{100 * r['cpu']:.0f}%"),
            report.check(f"frames/s, {n}-point window", f"{r['fps']:.0f}", f"≥ {MIN_FPS}", r["fps"] >= MIN_FPS),
            report.check(f"JS heap growth over {duration} s, {n}-point window",
                         f"{100 * r['js_heap_growth']:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%",
                         abs(r["js_heap_growth"]) <= MAX_GROWTH),
        ]
    columns = ["window (points)", "measured at", "points in first tick", "first tick to chart drawn (s)",
               "main thread busy (median, max)", "busy while counting frames (median)", "main thread CPU (median)",
               "frames/s (median, min)", "JS heap MB (first → last)", "JS heap growth", "load avg 1 min (start → end)"]
    rows = [[f"{r['size']:,}", r["measured_at"], r["first_tick_points"], f"{r['first_draw_s']:.1f}",
             f"{100 * r['busy']:.1f} %, {100 * r['busy_max']:.1f} %",
             f"{100 * r['busy_counting']:.1f} %" if "busy_counting" in r else "—", f"{100 * r['cpu']:.1f} %",
             f"{r['fps']:.0f}, {r['fps_min']:.0f}",
             f"{r['samples'][0]['js_heap'] / 1e6:.1f} → {r['samples'][-1]['js_heap'] / 1e6:.1f}",
             f"{100 * r['js_heap_growth']:+.1f} %", " → ".join(f"{x:.2f}" for x in r["load_1min"])] for r in runs]
    notes = [f"One headless Chromium tab (1600×900, --disable-gpu) per window size, one after another, each on its "
             f"own LineWatch server (gunicorn, simulator at {RATE} readings/s, 1 s tick) that restored a full "
             f"window of recorded history at start. Once the chart shows the window's readings and after a {warmup} s warm-up, CDP Performance.getMetrics is read "
             f"every {every} s for {duration} s, frames counted in every other interval (busy and CPU are the medians of "
             "the others: the requestAnimationFrame counter makes the page draw every vsync and adds 1-3 points of busy): busy = ΔTaskDuration / Δwall time (renderer main thread; wall time inside tasks, so it also "
             "counts time the thread waits for a core), CPU = ΔThreadTime / Δwall time (the main thread's CPU time), "
             "frames/s = requestAnimationFrame callbacks / Δwall time; JS heap = JSHeapUsedSize after a forced GC, "
             "growth as in the memory experiment (medians of the first and last 20 % of samples). "
             "The machine's 2 cores are shared: the load average is recorded beside each size."]
    notes += [f"{r['size']:,} points: browser console errors: {r['console_errors'][:3]}"
              for r in runs if r["console_errors"]]
    return report.result("bigwindow", quick, checks, columns, rows, notes, {"runs": runs})
