"""Memory: server RSS and browser JS heap at a 0.5 s period, start vs end; LineWatch beside the floor."""
import statistics
import time
from contextlib import ExitStack

from . import procstat, report
from .apps import FLOOR, LINEWATCH
from .browsers import Viewer, chromium

PERIOD = 0.5
MAX_GROWTH = 0.10
# Fill both apps' windows well within the warm-up, so growth after it is not a window filling.
ENV = {"floor": {"FLOOR_WINDOW": "30"}, "linewatch": {"LINEWATCH_SIM_RATE": "50"}}
HISTORY_JS = "() => window.store.getState().history.past.length"
EDGE = 0.2  # growth compares the median of the last 20 % of samples with that of the first 20 %


def growth(series, key):
    """Relative change of ``key`` between the first and last EDGE of the series (medians)."""
    span = series[-1]["t_s"]
    first = statistics.median(s[key] for s in series if s["t_s"] <= EDGE * span)
    last = statistics.median(s[key] for s in series if s["t_s"] >= (1 - EDGE) * span)
    return last / first - 1


def measure(specs, minutes, warmup, sample_every):
    """Serve each spec, one tab each in one Chromium; sample RSS and JS heap after ``warmup`` s."""
    samples = {spec.name: [] for spec in specs}
    with ExitStack() as stack:
        served = [stack.enter_context(s.serve(period=PERIOD, extra_env=ENV[s.name])) for s in specs]
        browser = stack.enter_context(chromium())
        viewers = [Viewer(browser, base) for _, base in served]
        for spec, viewer in zip(specs, viewers):
            viewer.wait_for_callback(spec.tick_output)
        viewers[0].wait(warmup)
        t0 = time.monotonic()
        while True:
            elapsed = time.monotonic() - t0
            for spec, (proc, _), viewer in zip(specs, served, viewers):
                samples[spec.name].append({
                    "t_s": round(elapsed, 1), "server_rss": procstat.rss_bytes(proc.pid),
                    "js_heap": viewer.js_heap(), "ticks": viewer.callbacks[spec.tick_output],
                    "dash_history": viewer.page.evaluate(HISTORY_JS)})
            if elapsed >= minutes * 60:
                break
            viewers[0].wait(min(sample_every, minutes * 60 - elapsed))
        errors = {spec.name: v.errors[:20] for spec, v in zip(specs, viewers)}
    out = {}
    for name, series in samples.items():
        out[name] = {"samples": series, "console_errors": errors[name],
                     "server_rss_growth": growth(series, "server_rss"),
                     "js_heap_growth": growth(series, "js_heap"),
                     "ticks_per_s": (series[-1]["ticks"] - series[0]["ticks"]) / series[-1]["t_s"]}
    return out


def run(quick):
    minutes, warmup, every = (1, 20, 5) if quick else (10, 180, 20)
    r = measure([LINEWATCH, FLOOR], minutes, warmup, every)
    lw, floor = r["linewatch"], r["floor"]
    checks = [report.check(f"server RSS growth over {minutes} min after warm-up",
                           f"{100 * lw['server_rss_growth']:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%",
                           abs(lw["server_rss_growth"]) <= MAX_GROWTH),
              report.check(f"browser JS heap growth over {minutes} min after warm-up",
                           f"{100 * lw['js_heap_growth']:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%",
                           abs(lw["js_heap_growth"]) <= MAX_GROWTH)]
    columns = ["t (s after warm-up)", "LineWatch RSS MB", "LineWatch JS heap MB", "floor RSS MB",
               "floor JS heap MB", "LineWatch ticks", "Dash history entries (LineWatch)"]
    step = -(-len(lw["samples"]) // 10)  # show about 10 rows; the JSON has every sample
    rows = [[a["t_s"], f"{a['server_rss'] / 1e6:.1f}", f"{a['js_heap'] / 1e6:.2f}",
             f"{b['server_rss'] / 1e6:.1f}", f"{b['js_heap'] / 1e6:.2f}", a["ticks"], a["dash_history"]]
            for i, (a, b) in enumerate(zip(lw["samples"], floor["samples"]))
            if i % step == 0 or i == len(lw["samples"]) - 1]
    notes = [f"One Chromium tab per app, period {PERIOD} s; LineWatch's simulator at "
             f"{ENV['linewatch']['LINEWATCH_SIM_RATE']} points/s so its 1000-point window is full before the "
             f"{warmup} s warm-up ends; the floor's window is {ENV['floor']['FLOOR_WINDOW']} points. "
             "JS heap = JSHeapUsedSize after a forced GC (CDP); server RSS summed over the gunicorn tree. "
             f"Sampled every {every} s; growth = median of the last {EDGE:.0%} of samples over the median "
             f"of the first {EDGE:.0%} (single samples of the JS heap swing by ±10 %). "
             f"Tick rate: LineWatch {lw['ticks_per_s']:.2f}/s, floor {floor['ticks_per_s']:.2f}/s.",
             f"Reference, same run: the floor app's growth was RSS {100 * floor['server_rss_growth']:+.1f}%, "
             f"JS heap {100 * floor['js_heap_growth']:+.1f}%. Dash's renderer records every dcc.Interval "
             "n_intervals change in its undo history (window.store history.past), one entry per tick; "
             "LineWatch's page empties it every tick (assets/linewatch.js, forgetUndoHistory)."]
    notes += [f"{name} browser console errors: {r[name]['console_errors'][:3]}"
              for name in r if r[name]["console_errors"]]
    return report.result("memory", quick, checks, columns, rows, notes, r)
