"""Start and stop gunicorn servers on free loopback ports."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "bench", "gunicorn.conf.py")
UVICORN_WORKER = "uvicorn.workers.UvicornWorker"


def free_port():
    """Return a loopback TCP port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, timeout=60.0):
    """Poll ``url`` until it answers 200; raise if ``proc`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def stop(proc, timeout=10.0):
    """Terminate ``proc`` and its process group, escalating to SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)  # gunicorn: quick shutdown
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@contextmanager
def gunicorn(target, env=None, threads=8, log_path=os.devnull, workers=1):
    """Run ``gunicorn target`` (``workers`` gthread workers, default 1) and yield (process, base_url)."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", target, "-b", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
           "--chdir", REPO, "--log-level", "warning", "-c", CONFIG]
    with _started(cmd, {**os.environ, **(env or {}), "PYTHONPATH": REPO}, port, log_path) as served:
        yield served


@contextmanager
def uvicorn_gunicorn(target, env=None, log_path=os.devnull, workers=1):
    """Run ``gunicorn -k uvicorn.workers.UvicornWorker target`` (``workers`` workers); yield (process, base_url)."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", target, "-b", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", UVICORN_WORKER, "--chdir", REPO, "--log-level", "warning", "-c", CONFIG]
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": REPO,
                "PYTHONWARNINGS": "ignore::DeprecationWarning"}  # uvicorn.workers points to uvicorn-worker
    with _started(cmd, full_env, port, log_path) as served:
        yield served


@contextmanager
def _started(cmd, env, port, log_path):
    """Start the gunicorn ``cmd`` listening on ``port``, wait until it answers; yield (process, base_url)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + "/", proc)
        except RuntimeError as exc:
            with open(log_path, errors="replace") as log:
                raise RuntimeError(f"{exc}; gunicorn log tail:\n{log.read()[-2000:]}") from None
        yield proc, base
    finally:
        stop(proc)
