"""Memory: server RSS and browser JS heap of one LineWatch viewer at a 0.5 s period, start vs end."""
import time

from . import procstat, report
from .apps import LINEWATCH
from .browsers import Viewer, chromium

PERIOD = 0.5
MAX_GROWTH = 0.10
# Fill the 1000-point window well within the warm-up, so growth after it is not the window filling.
LINEWATCH_ENV = {"LINEWATCH_SIM_RATE": "50"}


def measure(spec, minutes, warmup, sample_every, extra_env=None):
    """Serve ``spec`` at ``PERIOD``; sample RSS and JS heap from the end of warm-up for ``minutes``."""
    samples = []
    with spec.serve(period=PERIOD, extra_env=extra_env) as (proc, base), chromium() as browser:
        viewer = Viewer(browser, base)
        viewer.wait_for_callback(spec.tick_output)
        viewer.wait(warmup)
        t0 = time.monotonic()
        while True:
            elapsed = time.monotonic() - t0
            samples.append({"t_s": round(elapsed, 1), "server_rss": procstat.rss_bytes(proc.pid),
                            "js_heap": viewer.js_heap(), "ticks": viewer.callbacks[spec.tick_output]})
            if elapsed >= minutes * 60:
                break
            viewer.wait(min(sample_every, minutes * 60 - elapsed))
        errors = viewer.errors
    first, last = samples[0], samples[-1]
    return {"app": spec.name, "minutes": minutes, "warmup_s": warmup, "samples": samples,
            "server_rss_growth": last["server_rss"] / first["server_rss"] - 1,
            "js_heap_growth": last["js_heap"] / first["js_heap"] - 1,
            "ticks_per_s": (last["ticks"] - first["ticks"]) / max(last["t_s"], 1e-9),
            "console_errors": errors[:20]}


def run(quick):
    minutes, warmup, every = (1, 30, 10) if quick else (10, 60, 30)
    r = measure(LINEWATCH, minutes, warmup, every, LINEWATCH_ENV)
    first, last = r["samples"][0], r["samples"][-1]
    checks = [report.check(f"server RSS growth over {minutes} min after warm-up",
                           f"{100 * r['server_rss_growth']:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%",
                           abs(r["server_rss_growth"]) <= MAX_GROWTH),
              report.check(f"browser JS heap growth over {minutes} min after warm-up",
                           f"{100 * r['js_heap_growth']:+.1f}%", f"within ±{100 * MAX_GROWTH:g}%",
                           abs(r["js_heap_growth"]) <= MAX_GROWTH)]
    columns = ["t (s after warm-up)", "server RSS MB", "JS heap MB", "ticks"]
    rows = [[s["t_s"], f"{s['server_rss'] / 1e6:.1f}", f"{s['js_heap'] / 1e6:.2f}", s["ticks"]]
            for s in r["samples"]]
    notes = [f"One Chromium tab, period {PERIOD} s (LINEWATCH_PERIOD), simulator at "
             f"{LINEWATCH_ENV['LINEWATCH_SIM_RATE']} points/s so the 1000-point window is full before "
             f"the {warmup} s warm-up ends; JS heap = JSHeapUsedSize after a forced GC (CDP); "
             f"server RSS summed over the gunicorn tree. Measured tick rate {r['ticks_per_s']:.2f}/s."]
    if r["console_errors"]:
        notes.append(f"browser console errors: {r['console_errors'][:3]}")
    return report.result("memory", quick, checks, columns, rows, notes, r)
