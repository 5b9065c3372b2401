"""Push (issue 16): N Server-Sent Events subscribers on one line against ``LINEWATCH_TRANSPORT=push``.

The deployment is redis.py's (b) with the push transport: a private redis-server, the ingest worker
(simulator at 10 readings/s) and ``gunicorn -w 2 -k uvicorn.workers.UvicornWorker app.asgi:application``,
1 s ticks.  The subscribers are asyncio connections in this process (plain HTTP/1.1, chunked
bodies parsed here), each checking its cursor sequence; for each N: the fan-out delay (event
received − the tick's ``at``, the server's time when it built the tick), the share of ticks
received, gaps and duplicates, web-server CPU per viewer-minute, memory per connection.  At the
first N, every subscriber drops its connection and reconnects at once with ``Last-Event-ID``.
The Dash HTTP floor (bench/floor_app.py, synthetic viewers as synthetic.py runs them) is measured
in the same run for the CPU ratio.
"""
import asyncio
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import procstat, redis_scale, report, servers, synthetic
from .apps import FLOOR

SUBSCRIBERS = (1000, 2000, 5000)
PATH = "/api/v1/stream?line=line-1"
CONNECT_BATCH = 250  # connections opened at a time
P99_LIMIT_MS = 250.0
TICK_SHARE = 0.95
CPU_RATIO_LIMIT = 0.2
RECONNECT_LIMIT_S = 5.0
FLOOR_VIEWERS = 100


@dataclass
class Subscriber:
    """One SSE connection's view: its cursor, and what it saw since ``counting`` began."""
    cursor: int | None = None
    events: int = 0
    gaps: int = 0
    duplicates: int = 0
    resets: int = 0
    delays_ms: list = field(default_factory=list)
    counting: bool = False
    first_event: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, tick, received):
        if tick.get("reset"):
            self.resets += self.cursor is not None  # a reset after the first tick: the server dropped it
        elif tick["ts"] and self.cursor is not None:
            self.gaps += tick["first"] > self.cursor + 1
            self.duplicates += tick["first"] <= self.cursor
        self.cursor = tick["cursor"]
        if self.counting:
            self.events += 1
            self.delays_ms.append(1000 * (received - tick["at"]))
        self.first_event.set()


async def stream(host, port, subscriber, stop):
    """Read ``PATH`` as ``subscriber`` until ``stop`` is set (reconnecting from its cursor when asked)."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    resume = f"Last-Event-ID: {subscriber.cursor}\r\n" if subscriber.cursor is not None else ""
    writer.write(f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{resume}\r\n".encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        pending = b""
        while not stop.is_set():
            size = int((await reader.readline()).strip() or b"0", 16)
            chunk = (await reader.readexactly(size + 2))[:-2]
            received = time.time()
            if not size:
                return
            pending += chunk
            *events, pending = pending.split(b"\n\n")
            for event in events:
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        subscriber.take(json.loads(line[6:]), received)
    finally:
        writer.close()


async def connect_all(host, port, subscribers, stop):
    """Open every subscriber's stream, CONNECT_BATCH at a time; return the tasks once each had a tick."""
    tasks = []
    for start in range(0, len(subscribers), CONNECT_BATCH):
        batch = subscribers[start:start + CONNECT_BATCH]
        tasks += [asyncio.create_task(stream(host, port, s, stop)) for s in batch]
        await asyncio.wait_for(asyncio.gather(*(s.first_event.wait() for s in batch)), 60)
    return tasks


async def measure(base, cpu, rss, n, seconds, storm):
    """``n`` subscribers for ``seconds``; then (``storm``) all reconnect at once with Last-Event-ID."""
    host, port = base.removeprefix("http://").split(":")
    subscribers = [Subscriber() for _ in range(n)]
    stop = asyncio.Event()
    rss_before = rss()
    tasks = await connect_all(host, int(port), subscribers, stop)
    await asyncio.sleep(3)  # settle
    rss_after = rss()
    for s in subscribers:
        s.counting = True
    cpu_start, started = cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu_end, elapsed = cpu(), time.monotonic() - started
    for s in subscribers:
        s.counting = False
    out = {"subscribers": n, "seconds": elapsed,
           "web_cpu_s": cpu_end["gunicorn"] - cpu_start["gunicorn"],
           "all_cpu_s": sum(cpu_end[k] - cpu_start[k] for k in redis_scale.COMPONENTS),
           "rss_per_connection_kb": (rss_after - rss_before) / n / 1024}
    delays = np.concatenate([s.delays_ms for s in subscribers if s.delays_ms] or [[np.nan]])
    out.update({f"p{q}_ms": float(np.percentile(delays, q)) for q in (50, 99)})
    out["max_ms"] = float(np.nanmax(delays))
    out["min_tick_share"] = min(s.events for s in subscribers) / elapsed
    out["gaps"], out["duplicates"] = sum(s.gaps for s in subscribers), sum(s.duplicates for s in subscribers)
    out["resets"] = sum(s.resets for s in subscribers)
    out["web_cpu_per_viewer_min"] = out["web_cpu_s"] / (n * elapsed / 60)
    if storm:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)  # every connection dropped
        stop = asyncio.Event()
        for s in subscribers:
            s.first_event.clear()
        began = time.monotonic()
        tasks = [asyncio.create_task(stream(host, int(port), s, stop)) for s in subscribers]
        await asyncio.wait_for(asyncio.gather(*(s.first_event.wait() for s in subscribers)), 60)
        out["reconnect_s"] = time.monotonic() - began
        out["reconnect_gaps"] = sum(s.gaps for s in subscribers) - out["gaps"]
        out["reconnect_duplicates"] = sum(s.duplicates for s in subscribers) - out["duplicates"]
        out["reconnect_resets"] = sum(s.resets for s in subscribers) - out["resets"]
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return out


def push_web(env, log_path):
    return servers.uvicorn_gunicorn("app.asgi:application", {**env, "LINEWATCH_TRANSPORT": "push"}, log_path,
                                      workers=2)


def run(quick):
    sizes, seconds = ((200,), 10) if quick else (SUBSCRIBERS, 30)
    floor_viewers = 50 if quick else FLOOR_VIEWERS
    load_before = os.getloadavg()[0]
    floor = synthetic.measure(FLOOR, floor_viewers, seconds)
    floor_per_viewer_min = floor["server_cpu_s"] / (floor_viewers * floor["seconds"] / 60)
    runs = []
    with redis_scale.redis_deployment(push_web, {"LINEWATCH_SIM_RATE": "10", "LINEWATCH_PERIOD": "1"}) as (base, cpu):
        workers = [int(key.split()[1]) for key in cpu() if key.startswith("worker ")]
        for i, n in enumerate(sizes):
            runs.append(asyncio.run(measure(base, cpu, lambda: sum(map(procstat.rss_bytes, workers)), n, seconds,
                                            storm=i == 0)))
    load_after = os.getloadavg()[0]
    first = runs[0]
    ratio = first["web_cpu_per_viewer_min"] / floor_per_viewer_min
    n = first["subscribers"]
    checks = [
        report.check(f"push p99 fan-out delay, {n} subscribers", f"{first['p99_ms']:.0f} ms",
                     f"< {P99_LIMIT_MS:g} ms", first["p99_ms"] < P99_LIMIT_MS),
        report.check(f"push ticks received by every subscriber, {n}", f"{100 * first['min_tick_share']:.0f} % (least)",
                     f">= {100 * TICK_SHARE:g} %", first["min_tick_share"] >= TICK_SHARE),
        report.check(f"push gaps + duplicates + resets, {n} subscribers",
                     str(first["gaps"] + first["duplicates"] + first["resets"]), "0",
                     first["gaps"] + first["duplicates"] + first["resets"] == 0),
        report.check(f"push web CPU per viewer-minute / Dash HTTP floor, {n}", f"{ratio:.3f}",
                     f"<= {CPU_RATIO_LIMIT:g}", ratio <= CPU_RATIO_LIMIT),
        report.check(f"push reconnect storm of {n} with Last-Event-ID", f"{first['reconnect_s']:.1f} s, "
                     f"{first['reconnect_gaps'] + first['reconnect_duplicates'] + first['reconnect_resets']} gaps/dups/resets",
                     f"< {RECONNECT_LIMIT_S:g} s, 0", first["reconnect_s"] < RECONNECT_LIMIT_S
                     and first["reconnect_gaps"] + first["reconnect_duplicates"] + first["reconnect_resets"] == 0),
    ]
    checks += [report.info(f"push p99 fan-out delay, {r['subscribers']} subscribers",
                           f"{r['p99_ms']:.0f} ms, least {100 * r['min_tick_share']:.0f} % ticks, "
                           f"{r['gaps'] + r['duplicates'] + r['resets']} gaps/dups/resets") for r in runs[1:]]
    checks.append(report.info("push memory per connection (web workers' RSS)",
                              ", ".join(f"{r['rss_per_connection_kb']:.0f} KB at {r['subscribers']}" for r in runs)))
    columns = ["subscribers", "p50 ms", "p99 ms", "max ms", "least ticks %", "gaps", "dups", "resets",
               "web CPU s", "web CPU ms / viewer-min", "web+ingest+redis CPU s", "RSS / connection KB"]
    rows = [[r["subscribers"], f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.0f}",
             f"{100 * r['min_tick_share']:.0f}", r["gaps"], r["duplicates"], r["resets"], f"{r['web_cpu_s']:.2f}",
             f"{1000 * r['web_cpu_per_viewer_min']:.2f}", f"{r['all_cpu_s']:.2f}",
             f"{r['rss_per_connection_kb']:.0f}"] for r in runs]
    rows.append([f"Dash HTTP floor, {floor_viewers} synthetic viewers", f"{floor['p50_ms']:.1f}",
                 f"{floor['p99_ms']:.1f}", f"{floor['max_ms']:.0f}", "", "", "", "", f"{floor['server_cpu_s']:.2f}",
                 f"{1000 * floor_per_viewer_min:.2f}", "", ""])
    notes = [f"gunicorn -w 2 uvicorn workers (LINEWATCH_TRANSPORT=push) on Redis with the ingest worker "
             f"(simulator, 10 readings/s), 1 s ticks; {seconds} s measured per size after the subscribers "
             f"connected ({CONNECT_BATCH} at a time) and 3 s to settle. Subscribers: asyncio connections in the "
             f"benchmark process, on the same 2 cores as the servers (not pinned). Delay: time received − the "
             f"tick's `at`, one clock. Web CPU: gunicorn master and workers; the floor: gunicorn gthread, "
             f"{floor_viewers} synthetic viewers at 1 Hz (synthetic.py's load generator).",
             f"Reconnect storm at {n}: every connection closed, then all reopened at once with Last-Event-ID; "
             f"time until each had its first tick.",
             "Ticks received: events counted in the measured span / its seconds (one event more than whole "
             "seconds shows as > 100 %). Memory per connection: the web workers' RSS after connecting minus "
             "before; the first size is the clean figure (after it, memory freed by the previous size's "
             "connections is reused).",
             "Real Chromium tabs, pushed and polled: the viewer experiment (its table has linewatch-push beside "
             "the floor and LineWatch polling, K = 1 and 4, in one run).",
             f"Load average (1 min): {load_before:.1f} before, {load_after:.1f} after, on 2 cores."]
    return report.result("push", quick, checks, columns, rows, notes,
                         {"runs": runs, "floor": floor, "floor_cpu_per_viewer_min": floor_per_viewer_min})

