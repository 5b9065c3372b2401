"""WebSocket transport: server CPU and wire bytes per viewer-minute with K real Chromium tabs,
the WebSocket floor (bench/ws_floor_app.py) vs LineWatch with LINEWATCH_TRANSPORT=websocket.

Measured like bench/viewer.py (same tabs, CPU from /proc, bytes through a TCP proxy), with
gunicorn's uvicorn worker instead of gthread, and a proxy that also tells the socket's bytes
and frames apart (the ticks travel as WebSocket frames, not as HTTP requests).
"""
import asyncio
import json
import os
import time
from collections import Counter

from . import procstat, report, viewer
from .apps import SocketAppSpec
from .browsers import Viewer, chromium
from .wire import ByteCounter

TEXT, CLOSE, PING, PONG = 1, 8, 9, 10

WS_FLOOR = SocketAppSpec(
    name="ws-floor", target="bench.ws_floor_app:server", tick_output="graph.extendData",
    period_env="FLOOR_PERIOD",
    ready_js="(document.querySelector('#graph .js-plotly-plot')?.data[0].x.length || 0) > 0")

LINEWATCH_WS = SocketAppSpec(
    name="linewatch-ws", target="app.asgi:application", tick_output="tick.data",
    period_env="LINEWATCH_PERIOD", cursor_id="cursor",
    # one new reading per tick, the floor's data rate (as in the viewer experiment)
    env={"LINEWATCH_WINDOW": "1000", "LINEWATCH_TRANSPORT": "websocket", "LINEWATCH_SIM_RATE": "1"},
    data_dir_env="LINEWATCH_DATA_DIR",
    ready_js="(document.querySelector('#chart .js-plotly-plot')?.data[0].x.length || 0) > 0"
             " && window.linewatchTransport.mode() === 'websocket'")


class Frames:
    """Counts the WebSocket frames of one direction of one connection, after its HTTP handshake."""

    def __init__(self, counts):
        self.counts = counts  # Counter shared by every connection: opcode -> frames
        self.handshake = bytearray()
        self.in_handshake = True
        self.header = bytearray()
        self.skip = 0

    def feed(self, data):
        if self.in_handshake:
            self.handshake += data
            end = self.handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self.handshake[end + 4:])
            self.in_handshake = False
        while data:
            if self.skip:
                n = min(self.skip, len(data))
                self.skip -= n
                data = data[n:]
                continue
            self.header += data
            data = b""
            if len(self.header) < 2:
                return
            length, offset = self.header[1] & 0x7F, 2
            if length == 126:
                offset = 4
            elif length == 127:
                offset = 10
            offset += 4 if self.header[1] & 0x80 else 0  # the client's masking key
            if len(self.header) < offset:
                return
            if length >= 126:
                length = int.from_bytes(self.header[2:4 if length == 126 else 10], "big")
            self.counts[self.header[0] & 0x0F] += 1
            rest = bytes(self.header[offset:])
            self.header.clear()
            self.skip = length
            data = rest


class SocketByteCounter(ByteCounter):
    """The byte-counting proxy (bench/wire.py), also counting WebSocket connections' bytes and frames.

    A connection whose request asks for ``Upgrade: websocket`` counts as a socket: its bytes
    (handshake and frames) go to ``ws_up``/``ws_down`` as well as to the totals.
    """

    def __init__(self, target_port):
        super().__init__(target_port)
        self.ws_up = self.ws_down = self.ws_connections = 0
        self.frames_up, self.frames_down = Counter(), Counter()

    def snapshot(self):
        return (self.up, self.down, self.ws_up, self.ws_down, Counter(self.frames_up), Counter(self.frames_down))

    async def _relay(self, c_reader, c_writer, s_reader, s_writer):
        link = {"socket": False, "up": Frames(self.frames_up), "down": Frames(self.frames_down)}
        await asyncio.gather(self._watched_pipe(c_reader, s_writer, "up", link),
                             self._watched_pipe(s_reader, c_writer, "down", link))

    async def _watched_pipe(self, reader, writer, direction, link):
        first = True
        try:
            while data := await reader.read(65536):
                if first and direction == "up" and b"upgrade: websocket" in data[:4096].lower():
                    link["socket"] = True
                    self.ws_connections += 1
                first = False
                setattr(self, direction, getattr(self, direction) + len(data))
                if link["socket"]:
                    setattr(self, f"ws_{direction}", getattr(self, f"ws_{direction}") + len(data))
                    link[direction].feed(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def measure(spec, k, duration, idle=5.0, warmup=5.0):
    """Serve ``spec``, open ``k`` tabs through the counting proxy, measure ``duration`` s."""
    with spec.serve() as (proc, base), SocketByteCounter(int(base.rsplit(":", 1)[1])) as wire, \
            chromium() as browser:
        cpu0 = procstat.cpu_seconds(proc.pid)
        time.sleep(idle)
        idle_cpu = procstat.cpu_seconds(proc.pid) - cpu0
        viewers = [Viewer(browser, wire.url) for _ in range(k)]
        for v in viewers:
            v.wait_until(spec.ready_js, f"{spec.name}: no tick")
        viewers[0].wait(warmup)
        before = ([v.counts() for v in viewers], wire.snapshot(), procstat.cpu_seconds(proc.pid), time.monotonic())
        viewers[0].wait(duration)
        after = ([v.counts() for v in viewers], wire.snapshot(), procstat.cpu_seconds(proc.pid), time.monotonic())
        errors = [e for v in viewers for e in v.errors]
        sockets = wire.ws_connections
    (c0, w0, cpu0, t0), (c1, w1, cpu1, t1) = before, after
    up, down, ws_up, ws_down = (b - a for a, b in zip(w0[:4], w1[:4]))
    frames_up, frames_down = w1[4] - w0[4], w1[5] - w0[5]
    viewer_min = k * (t1 - t0) / 60
    ticks = frames_down[TEXT]  # one callback answer per tick (plus a heartbeat answer every 30 s)
    posts = sum(b[1] for b in c1) - sum(a[1] for a in c0)
    return {
        "app": spec.name, "viewers": k, "seconds": round(t1 - t0, 2),
        "cpu_s_per_viewer_min": (cpu1 - cpu0) / viewer_min,
        "down_bytes_per_viewer_min": down / viewer_min,
        "up_bytes_per_viewer_min": up / viewer_min,
        "ws_down_bytes_per_viewer_min": ws_down / viewer_min,
        "ws_up_bytes_per_viewer_min": ws_up / viewer_min,
        "idle_cpu_s_per_min": idle_cpu / idle * 60,
        "net_cpu_s_per_viewer_min": (cpu1 - cpu0 - idle_cpu / idle * (t1 - t0)) / viewer_min,
        "ws_frames_down_per_viewer_s": ticks / k / (t1 - t0),
        "ws_frames_up_per_viewer_s": frames_up[TEXT] / k / (t1 - t0),
        "ws_bytes_down_per_frame": ws_down / max(ticks, 1),
        "ws_bytes_up_per_frame": ws_up / max(frames_up[TEXT], 1),
        "callback_posts": posts,
        "http_requests": sum(b[0] for b in c1) - sum(a[0] for a in c0),
        "socket_connections": sockets,
        "frames_up": {str(op): n for op, n in frames_up.items()},
        "frames_down": {str(op): n for op, n in frames_down.items()},
        "console_errors": errors[:20],
    }


def run(quick):
    duration, idle, warmup = (20, 5, 3) if quick else (60, 10, 5)
    runs = [measure(spec, k, duration, idle, warmup) for k in viewer.VIEWERS for spec in (WS_FLOOR, LINEWATCH_WS)]
    checks, notes = viewer.ratio_checks(runs, WS_FLOOR.name, LINEWATCH_WS.name, "websocket"), []
    notes.append("Over a socket a tick has next to no framing (a few bytes of frame header where a polled "
                 "tick carries ~150-180 B of response headers down and ~900 B of request up), so bytes follow "
                 "the payload; both apps add one reading per tick.")
    for r in runs:
        checks.append(report.check(f"websocket {r['app']} K={r['viewers']}: ticks over the socket, no callback POST",
                                   f"{r['callback_posts']} POSTs, {r['ws_frames_down_per_viewer_s']:.2f} frames "
                                   "down / viewer-s", "0 POSTs, ≥ 0.9 frames / viewer-s",
                                   r["callback_posts"] == 0 and r["ws_frames_down_per_viewer_s"] >= 0.9))
        if r["console_errors"]:
            notes.append(f"{r['app']} K={r['viewers']}: browser console errors: {r['console_errors'][:3]}")
    notes.append(f"Measured {duration} s per run after a {warmup:g} s warm-up, like the viewer experiment, with "
                 "`gunicorn -k uvicorn.workers.UvicornWorker` (1 worker; uvicorn's WebSocket with permessage-deflate, "
                 "its default) and Dash's `websocket_callbacks=True`. Bytes: all TCP payload through the proxy; "
                 "the WS columns are the socket connections' share (frames; the handshake happened before the "
                 "interval). A tick is one text frame up (the callback request) and one down (its answer); a "
                 "heartbeat pair every 30 s adds ~3 % to the frame rates.")
    viewer_json = os.path.join(report.RESULTS, "viewer.json")
    if os.path.exists(viewer_json):
        with open(viewer_json) as f:
            http = {(r["app"], r["viewers"]): r for r in json.load(f).get("data", {}).get("runs", [])}
        by = {(r["app"], r["viewers"]): r for r in runs}
        for k in viewer.VIEWERS:
            if ("floor", k) in http and ("linewatch", k) in http:
                floor_ws, lw_ws = by[("ws-floor", k)], by[("linewatch-ws", k)]
                floor_http, lw_http = http[("floor", k)], http[("linewatch", k)]
                cpu, down = "cpu_s_per_viewer_min", "down_bytes_per_viewer_min"
                notes.append(
                    f"K={k}, against HTTP polling (viewer.json, an earlier run): the WebSocket floor costs "
                    f"{floor_ws[cpu] / floor_http[cpu]:.2f}× the HTTP floor's CPU and "
                    f"{floor_ws[down] / floor_http[down]:.2f}× its bytes down; LineWatch over the socket "
                    f"{lw_ws[cpu] / lw_http[cpu]:.2f}× and {lw_ws[down] / lw_http[down]:.2f}× "
                    "LineWatch polling (informational: different runs).")
    rows = [[r["app"], r["viewers"], f"{r['cpu_s_per_viewer_min']:.3f}",
             f"{r['down_bytes_per_viewer_min'] / 1000:.1f}", f"{r['up_bytes_per_viewer_min'] / 1000:.1f}",
             f"{r['ws_down_bytes_per_viewer_min'] / 1000:.1f}", f"{r['ws_up_bytes_per_viewer_min'] / 1000:.1f}",
             f"{r['ws_frames_down_per_viewer_s']:.2f}", f"{r['ws_bytes_down_per_frame']:.0f}",
             f"{r['ws_bytes_up_per_frame']:.0f}", r["callback_posts"], f"{r['idle_cpu_s_per_min']:.3f}",
             f"{r['net_cpu_s_per_viewer_min']:.3f}"] for r in runs]
    columns = ["app", "K", "CPU s / viewer-min", "KB down / viewer-min", "KB up / viewer-min",
               "WS KB down / viewer-min", "WS KB up / viewer-min", "WS frames down / viewer-s",
               "WS B down / frame", "WS B up / frame", "callback POSTs", "idle CPU s / min (no viewer)",
               "CPU s / viewer-min net of idle"]
    return report.result("websocket", quick, checks, columns, rows, notes, {"runs": runs})
