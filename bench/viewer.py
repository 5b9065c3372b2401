"""Viewer cost: server CPU and wire bytes per viewer-minute with K real Chromium tabs: the floor, LineWatch
polling (the default) and LineWatch pushing its ticks (``LINEWATCH_TRANSPORT=push``), in the same run."""
import time
from collections import Counter

from . import procstat, report
from .apps import FLOOR, LINEWATCH, LINEWATCH_PUSH
from .browsers import Viewer, chromium
from .wire import ByteCounter

VIEWERS = (1, 4)
MAX_RATIO = 2.0


def _per_output(counts):
    return sum((per_output for _, _, per_output in counts), Counter())


def measure(spec, k, duration, idle=5.0, warmup=5.0):
    """Serve ``spec``, open ``k`` tabs through a byte-counting proxy, measure ``duration`` s."""
    with spec.serve() as (proc, base), ByteCounter(int(base.rsplit(":", 1)[1])) as wire, \
            chromium() as browser:
        cpu0 = procstat.cpu_seconds(proc.pid)
        time.sleep(idle)
        idle_cpu = procstat.cpu_seconds(proc.pid) - cpu0
        viewers = [Viewer(browser, wire.url) for _ in range(k)]
        for v in viewers:
            if spec.ready_js:
                v.wait_until(spec.ready_js, f"{spec.name}: no tick")
            else:
                v.wait_for_callback(spec.tick_output)
        viewers[0].wait(warmup)
        before = ([v.counts() for v in viewers], wire.snapshot(), wire.events, procstat.cpu_seconds(proc.pid),
                  time.monotonic())
        viewers[0].wait(duration)
        after = ([v.counts() for v in viewers], wire.snapshot(), wire.events, procstat.cpu_seconds(proc.pid),
                 time.monotonic())
        errors = [e for v in viewers for e in v.errors]
    (c0, (up0, down0), events0, cpu0, t0), (c1, (up1, down1), events1, cpu1, t1) = before, after
    viewer_min = k * (t1 - t0) / 60
    callbacks = _per_output(c1) - _per_output(c0)
    pushed = events1 - events0  # ticks streamed as Server-Sent Events (push)
    ticks = sum(n for out, n in callbacks.items() if spec.tick_output in out) + pushed
    return {
        "app": spec.name, "viewers": k, "seconds": round(t1 - t0, 2),
        "cpu_s_per_viewer_min": (cpu1 - cpu0) / viewer_min,
        "down_bytes_per_viewer_min": (down1 - down0) / viewer_min,
        "up_bytes_per_viewer_min": (up1 - up0) / viewer_min,
        "idle_cpu_s_per_min": idle_cpu / idle * 60,
        "net_cpu_s_per_viewer_min": (cpu1 - cpu0 - idle_cpu / idle * (t1 - t0)) / viewer_min,
        "ticks_per_viewer_s": ticks / k / (t1 - t0),
        "pushed_ticks_per_viewer_s": pushed / k / (t1 - t0),
        "callback_posts_per_tick": sum(callbacks.values()) / max(ticks, 1),
        "http_requests_per_tick": (sum(b[0] for b in c1) - sum(a[0] for a in c0)) / max(ticks, 1),
        "callbacks": dict(callbacks),
        "console_errors": errors[:20],
    }


def ratio_checks(runs, floor_name, app_name, experiment):
    """LineWatch/floor checks for server CPU and bytes down per viewer-minute, for every K."""
    by = {(r["app"], r["viewers"]): r for r in runs}
    checks = []
    for k in VIEWERS:
        floor, lw = by[(floor_name, k)], by[(app_name, k)]
        for key, label in (("cpu_s_per_viewer_min", "CPU"), ("down_bytes_per_viewer_min", "bytes down")):
            ratio = lw[key] / floor[key]
            print(f"  K={k}: LineWatch/floor ({experiment}) {label} ratio {ratio:.2f}")
            checks.append(report.check(f"{experiment} {label} LineWatch/floor, K={k}", f"{ratio:.2f}",
                                       f"≤ {MAX_RATIO}", ratio <= MAX_RATIO))
    return checks


def run(quick):
    duration, idle, warmup = (20, 5, 3) if quick else (60, 10, 5)
    runs = [measure(spec, k, duration, idle, warmup) for k in VIEWERS for spec in (FLOOR, LINEWATCH, LINEWATCH_PUSH)]
    checks, notes = ratio_checks(runs, FLOOR.name, LINEWATCH.name, "viewer"), []
    by = {(r["app"], r["viewers"]): r for r in runs}
    for k in VIEWERS:
        pushed, polled = by[(LINEWATCH_PUSH.name, k)], by[(LINEWATCH.name, k)]
        checks.append(report.check(f"viewer {LINEWATCH_PUSH.name} K={k}: every tick pushed, no tick POST",
                                   f"{pushed['pushed_ticks_per_viewer_s']:.2f} pushed ticks / viewer-s, "
                                   f"{pushed['callbacks'].get(LINEWATCH_PUSH.tick_output, 0)} tick POSTs",
                                   "≥ 0.9 / viewer-s, 0 POSTs", pushed["pushed_ticks_per_viewer_s"] >= 0.9
                                   and not pushed["callbacks"].get(LINEWATCH_PUSH.tick_output)))
        checks.append(report.info(f"viewer push/polling, K={k}: server CPU and bytes down per viewer-minute",
                                  f"{pushed['cpu_s_per_viewer_min'] / polled['cpu_s_per_viewer_min']:.2f}× CPU, "
                                  f"{pushed['down_bytes_per_viewer_min'] / polled['down_bytes_per_viewer_min']:.2f}× "
                                  "bytes down"))
    for r in runs:
        if r["callback_posts_per_tick"] > 1.05:
            notes.append(f"{r['app']} K={r['viewers']}: {r['callback_posts_per_tick']:.2f} server "
                         f"callback requests per tick: {r['callbacks']}")
        if r["console_errors"]:
            notes.append(f"{r['app']} K={r['viewers']}: browser console errors: {r['console_errors'][:3]}")
    notes.append(f"Measured {duration} s per run after a {warmup:g} s warm-up; bytes counted by a TCP proxy "
                 "(HTTP headers + bodies, no IP/TCP overhead); CPU = utime+stime of the gunicorn tree. "
                 f"Idle CPU is measured over {idle:g} s before any tab opens (LineWatch's simulator and "
                 "recorder threads run without viewers); the net column subtracts it and is informational.")
    notes.append(f"{LINEWATCH_PUSH.name}: LineWatch with LINEWATCH_TRANSPORT=push under `gunicorn -k uvicorn.workers."
                 "UvicornWorker` (1 worker, memory store; floor and polling: gthread); its ticks are Server-Sent "
                 "Events counted by the proxy, measured once every tab said it was pushed (it polls until then). "
                 "Each tab has a browser context of its own (own connections, own Web Locks), like separate viewers.")
    rows = [[r["app"], r["viewers"], f"{r['cpu_s_per_viewer_min']:.3f}",
             f"{r['down_bytes_per_viewer_min'] / 1000:.1f}", f"{r['up_bytes_per_viewer_min'] / 1000:.1f}",
             f"{r['ticks_per_viewer_s']:.2f}", f"{r['callback_posts_per_tick']:.2f}",
             f"{r['http_requests_per_tick']:.2f}", f"{r['idle_cpu_s_per_min']:.3f}",
             f"{r['net_cpu_s_per_viewer_min']:.3f}"] for r in runs]
    columns = ["app", "K", "CPU s / viewer-min", "KB down / viewer-min", "KB up / viewer-min",
               "ticks / viewer-s", "callback POSTs / tick", "HTTP requests / tick",
               "idle CPU s / min (no viewer)", "CPU s / viewer-min net of idle"]
    return report.result("viewer", quick, checks, columns, rows, notes, {"runs": runs})
