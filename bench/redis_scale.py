"""Redis scale-out: N synthetic viewers against 4 gunicorn workers on Redis vs 1 worker in-memory, same run.

(a) LineWatch as the synthetic experiment serves it: in-memory store, gunicorn 1 gthread worker.
(b) LINEWATCH_STORE=redis: a private redis-server on a free port (tests/helpers/redis_server.py), the
ingest worker ``python -m app.ingest`` and ``gunicorn -w 4 --worker-class gthread --threads 4``.
Both face the same load generator (bench/loadgen.py via ``synthetic.load``); reported: latency,
errors, server CPU per viewer-minute (for (b) also per component) and the ratios redis/memory.
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager

from . import procstat, report, servers, synthetic
from .apps import LINEWATCH

WORKERS = 4
THREADS = 4  # per worker: 16 threads in all, as the single in-memory worker has (synthetic.THREADS)
COMPONENTS = ("gunicorn", "ingest", "redis")  # (b)'s server CPU, in this order


def _tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def wait_ready(base, procs, timeout=60.0):
    """Poll ``base``/readyz until 200 (Redis filled, ingest worker's source running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited before the deployment was ready")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base}/readyz did not answer 200 within {timeout:g} s")


@contextmanager
def memory_deployment():
    """(a) The synthetic experiment's server: yield (base_url, cpu) with cpu() -> {"gunicorn": s}."""
    with LINEWATCH.serve(threads=synthetic.THREADS, extra_env={"LINEWATCH_STORE": "memory"}) as (proc, base):
        yield base, lambda: {"gunicorn": procstat.cpu_seconds(proc.pid)}


def gthread_web(env, log_path):
    """(b)'s web servers: ``gunicorn -w 4`` gthread workers serving app.wsgi:server."""
    return servers.gunicorn("app.wsgi:server", env, THREADS, log_path, WORKERS)


@contextmanager
def redis_deployment(web=gthread_web, extra_env=None):
    """(b) redis-server + ingest worker + ``web(env, log_path)`` (a context yielding (process, base_url);
    default gunicorn -w 4), all on free loopback ports, all stopped at the end whatever happens.
    ``extra_env``: for every process.  Yield (base_url, cpu) with cpu() -> CPU seconds of each
    component and of each gunicorn worker ("worker <pid>")."""
    from tests.helpers.redis_server import RedisServer  # the tests' private redis-server (never 6379)

    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, ExitStack() as stack:
        redis = RedisServer(os.path.join(tmp, "redis"))
        stack.callback(redis.stop)
        redis.start()
        env = {**LINEWATCH.env, LINEWATCH.period_env: "1", "LINEWATCH_STORE": "redis",
               "LINEWATCH_REDIS_URL": redis.url, "LINEWATCH_DATA_DIR": os.path.join(tmp, "data"), **(extra_env or {})}
        worker_log = os.path.join(tmp, "ingest.log")
        with open(worker_log, "ab") as log:
            worker = subprocess.Popen([sys.executable, "-m", "app.ingest"], cwd=servers.REPO,
                                      env={**os.environ, **env, "PYTHONPATH": servers.REPO},
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(servers.stop, worker)  # SIGINT to its group: the worker stops cleanly
        web_log = os.path.join(tmp, "gunicorn.log")
        proc, base = stack.enter_context(web(env, web_log))
        try:
            wait_ready(base, {"ingest worker": worker, "gunicorn": proc, "redis-server": redis.proc})
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\ningest log tail:\n{_tail(worker_log)}\ngunicorn log tail:\n"
                               f"{_tail(web_log)}") from None
        pids = {"gunicorn": proc.pid, "ingest": worker.pid, "redis": redis.proc.pid}

        def cpu():
            out = {name: procstat.cpu_seconds(pid) for name, pid in pids.items()}
            for pid in procstat.tree(proc.pid)[1:]:  # the gunicorn workers (gthread: no children)
                out[f"worker {pid}"] = procstat.cpu_seconds(pid)
            return out

        yield base, cpu


def measure(name, deployment, clients, duration, warmup, idle):
    """Serve, capture a browser's tick, sample idle CPU for ``idle`` s, then run the load generator."""
    with deployment() as (base, cpu):
        body = synthetic.capture_tick(LINEWATCH, base)
        t0, before = time.monotonic(), cpu()
        time.sleep(idle)
        after, idle_s = cpu(), time.monotonic() - t0
        out = synthetic.load(LINEWATCH, base, body, clients, duration, warmup, cpu=cpu)
    parts = {k: v for k, v in out["cpu_s"].items() if k in COMPONENTS}
    out.update(deployment=name, server_cpu_s=sum(parts.values()), cpu_parts_s=parts,
               worker_cpu_s=[v for k, v in sorted(out["cpu_s"].items()) if k.startswith("worker ")],
               idle_cpu_pct={k: 100 * (after[k] - before.get(k, 0.0)) / idle_s for k in parts})
    out["cpu_per_viewer_min"] = out["server_cpu_s"] / (clients * duration / 60)
    return out


def _ratio(a, b):
    return a / b if b else float("nan")


def run(quick):
    clients, duration, warmup, idle = (100, 15, 3, 3) if quick else (200, 60, 5, 10)
    mem = measure("memory", memory_deployment, clients, duration, warmup, idle)
    red = measure("redis", redis_deployment, clients, duration, warmup, idle)
    p95_ratio = _ratio(red["p95_ms"], mem["p95_ms"])
    cpu_ratio = _ratio(red["cpu_per_viewer_min"], mem["cpu_per_viewer_min"])
    checks = [report.check(f"redis: errors, {clients} viewers, {label}", str(r["errors"]), "0", r["errors"] == 0)
              for label, r in (("1 worker in-memory", mem), (f"{WORKERS} workers on Redis", red))]
    checks += [report.info(f"redis: p95 latency redis/memory, {clients} viewers",
                           f"{p95_ratio:.2f} ({red['p95_ms']:.1f} / {mem['p95_ms']:.1f} ms)"),
               report.info(f"redis: server CPU per viewer redis/memory, {clients} viewers",
                           f"{cpu_ratio:.2f} ({red['cpu_per_viewer_min']:.3f} / {mem['cpu_per_viewer_min']:.3f} "
                           "CPU s per viewer-minute)")]
    columns = ["deployment", "viewers", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors",
               "server CPU s", "CPU s / viewer-min", "CPU %", "idle CPU %", "client CPU s"]

    def row(label, r):
        return [label, r["clients"], r["requests"], f"{r['rate_per_s']:.1f}", f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", r["errors"],
                f"{r['server_cpu_s']:.2f}", f"{r['cpu_per_viewer_min']:.4f}",
                f"{100 * r['server_cpu_s'] / r['seconds']:.0f}", f"{sum(r['idle_cpu_pct'].values()):.1f}",
                f"{r['client_cpu_s']:.2f}"]

    def part(label, key):
        s = red["cpu_parts_s"][key]
        return [f"└ {label}", "", "", "", "", "", "", "", "", f"{s:.2f}",
                f"{s / (red['clients'] * red['seconds'] / 60):.4f}", f"{100 * s / red['seconds']:.0f}",
                f"{red['idle_cpu_pct'][key]:.1f}", ""]

    rows = [row("memory: gunicorn 1 worker × 16 threads", mem),
            row(f"redis: gunicorn {WORKERS} workers × {THREADS} threads + ingest + redis-server", red),
            part(f"gunicorn ({WORKERS} workers + master)", "gunicorn"), part("ingest worker", "ingest"),
            part("redis-server", "redis"),
            ["redis / memory", "", "", "", f"{_ratio(red['p50_ms'], mem['p50_ms']):.2f}", f"{p95_ratio:.2f}",
             f"{_ratio(red['p99_ms'], mem['p99_ms']):.2f}", "", "",
             f"{_ratio(red['server_cpu_s'], mem['server_cpu_s']):.2f}", f"{cpu_ratio:.2f}", "", "", ""]]
    notes = [f"Same run, one after the other: (a) in-memory, then (b) Redis. Each: {clients} synthetic viewers "
             f"at 1 Hz (bench/loadgen.py, pinned to core {synthetic.CLIENT_CPU}, own connection and cursor each), "
             f"{duration} s measured after a {warmup:g} s warm-up; before the load, {idle:g} s with no viewer give "
             "'idle CPU %'.",
             "(a) `gunicorn app.wsgi:server --workers 1 --threads 16 --worker-class gthread` with the in-memory store "
             "(simulator and SQLite recorder in the web process). (b) a private `redis-server` (free port, no "
             f"persistence), `python -m app.ingest` (simulator + recorder) and `gunicorn app.wsgi:server --workers "
             f"{WORKERS} --threads {THREADS} --worker-class gthread` with LINEWATCH_STORE=redis. Both: "
             "LINEWATCH_WINDOW=1000, LINEWATCH_SIM_RATE=1, a fresh data dir.",
             "Server CPU = utime + stime over the measured interval; (b) sums the gunicorn tree, the ingest worker "
             "and redis-server (rows └). CPU s / viewer-min = server CPU s / (viewers × minutes).",
             f"(b) CPU s per gunicorn worker: {', '.join(f'{s:.2f}' for s in red['worker_cpu_s'])} "
             "(how evenly the kernel spread the viewers' connections)."]
    notes += [f"{r['deployment']}: errors {r['error_samples']}" for r in (mem, red) if r["errors"]]
    return report.result("redis", quick, checks, columns, rows, notes,
                         {"clients": clients, "seconds": duration, "warmup": warmup, "idle_seconds": idle,
                          "workers": WORKERS, "threads": THREADS, "memory": mem, "redis": red,
                          "p95_ratio": p95_ratio, "cpu_per_viewer_ratio": cpu_ratio})
