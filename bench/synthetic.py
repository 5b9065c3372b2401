"""Synthetic viewers: N HTTP clients ticking LineWatch at 1 Hz against gunicorn; latency and server CPU."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from . import procstat, report
from .apps import LINEWATCH
from .browsers import Viewer, chromium
from .servers import REPO

CLIENTS = (50, 100, 200)
THREADS = 16
CLIENT_CPU = "1"  # the load generator is pinned to this core; the server may use both
P95_LIMIT_MS = 100.0


def capture_tick(spec, base):
    """The body of a periodic tick request (the 2nd; the 1st is the page's initial call) that a
    real browser sends to ``base``."""
    with chromium() as browser:
        viewer = Viewer(browser, base)
        body = viewer.wait_for_callback(spec.tick_output, count=2)
        viewer.close()
    return body


def measure(spec, clients, duration, warmup=5.0, period=1.0):
    """Serve ``spec`` and run the pinned load generator against it; summarise one run."""
    with spec.serve(threads=THREADS) as (proc, base):
        out = load(spec, base, capture_tick(spec, base), clients, duration, warmup, period,
                   lambda: {"server": procstat.cpu_seconds(proc.pid)})
    out["server_cpu_s"] = out.pop("cpu_s")["server"]
    return out


def load(spec, base, body, clients, duration, warmup=5.0, period=1.0, cpu=None):
    """Run the pinned load generator (``clients`` viewers replaying ``body``) against the server at
    ``base``; summarise one run. ``cpu()`` returns CPU seconds by component; its deltas over the
    measured interval come back as ``cpu_s``."""
    with tempfile.NamedTemporaryFile("w") as cfg:
        json.dump({"app": spec.name, "url": base + "/_dash-update-component", "clients": clients,
                   "duration": duration, "warmup": warmup, "period": period, "body": body}, cfg)
        cfg.flush()
        gen = subprocess.Popen(["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "bench.loadgen", cfg.name],
                               cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                               stdout=subprocess.PIPE, text=True)
        cpu_at = {}
        try:
            for line in gen.stdout:
                if line.startswith("measure-"):
                    cpu_at[line.strip()] = cpu() if cpu else {}
                else:
                    out = json.loads(line)
        except BaseException:  # never leave the generator running
            gen.kill()
            gen.wait()
            raise
        if gen.wait() != 0:
            raise RuntimeError(f"load generator exited with {gen.returncode}")
    start, end = cpu_at["measure-start"], cpu_at["measure-end"]
    lat = np.array(out["latency_ms"])
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else (float("nan"),) * 3
    return {"app": spec.name, "clients": clients, "seconds": duration, "requests": len(lat),
            "rate_per_s": len(lat) / duration, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "max_ms": float(lat.max()) if len(lat) else float("nan"),
            "body_bytes_per_tick": out["body_bytes"] / max(len(lat), 1),
            "errors": len(out["errors"]), "error_samples": sorted(set(out["errors"]))[:5],
            "cpu_s": {name: end[name] - start.get(name, 0.0) for name in end},
            "client_cpu_s": out["client_cpu_s"]}


def run(quick):
    duration, warmup = (15, 3) if quick else (60, 5)
    runs = [measure(LINEWATCH, n, duration, warmup) for n in CLIENTS]
    top = runs[-1]
    checks = [report.check(f"synthetic p95 tick latency, {top['clients']} viewers at 1 Hz",
                           f"{top['p95_ms']:.1f} ms", f"< {P95_LIMIT_MS:g} ms", top["p95_ms"] < P95_LIMIT_MS),
              report.check(f"synthetic errors, {top['clients']} viewers", str(top["errors"]), "0",
                           top["errors"] == 0)]
    columns = ["viewers", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors",
               "response body B / tick", "server CPU s", "server CPU %", "client CPU s"]
    rows = [[r["clients"], r["requests"], f"{r['rate_per_s']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
             f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", r["errors"], f"{r['body_bytes_per_tick']:.0f}",
             f"{r['server_cpu_s']:.2f}", f"{100 * r['server_cpu_s'] / r['seconds']:.0f}",
             f"{r['client_cpu_s']:.2f}"] for r in runs]
    notes = [f"aiohttp clients in one process pinned to core {CLIENT_CPU} (taskset); gunicorn 1 gthread "
             f"worker, {THREADS} threads, not pinned. Each client has its own keep-alive connection and "
             f"cursor and replays the tick request captured from a real browser; {duration} s measured "
             f"after a {warmup:g} s warm-up (the first, backfilling tick is not counted)."]
    notes += [f"{r['clients']} viewers: errors {r['error_samples']}" for r in runs if r["errors"]]
    return report.result("synthetic", quick, checks, columns, rows, notes, {"runs": runs})
