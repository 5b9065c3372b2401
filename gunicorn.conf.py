"""gunicorn settings for LineWatch: ``gunicorn -c gunicorn.conf.py app.wsgi:server`` (the Procfile).

Command-line flags win over this file (the Procfile passes ``--bind`` with ``$PORT``).
Settings are read from the environment like the app's: LINEWATCH_LOG_FORMAT=json makes
gunicorn's own lines JSON too (app/logs.py), GUNICORN_THREADS sets the thread count.
It also sets up /metrics for several processes (prometheus_client's multiprocess mode):
``PROMETHEUS_MULTIPROC_DIR``, as given or a fresh temporary directory per master.
"""

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

wsgi_app = "app.wsgi:server"
bind = [f"0.0.0.0:{os.environ.get('PORT', '8050')}"]

# One process: the in-memory store, the simulator and the recorder live in it (more workers
# need LINEWATCH_STORE=redis; on_starting refuses otherwise).  Threads serve the viewers (a
# tick is ~2-3 ms of CPU; a waiting keep-alive connection holds no thread).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A worker whose main loop is silent this long is killed and replaced.
timeout = 30
# On SIGTERM a worker finishes its requests, then exits normally: the app's atexit hook
# (app/runtime.py) stops the source and records the last batch.  Killed after this.
graceful_timeout = 20
# Longer than the slowest update period (5 s), so a viewer's ticks reuse one connection.
keepalive = 10
# X-Forwarded-* are the app's business (LINEWATCH_TRUSTED_PROXIES, app/security.py):
# gunicorn itself trusts none, not even from 127.0.0.1 as it would by default.
forwarded_allow_ips = ""
# Request line and header limits stay at gunicorn's defaults; the body limit (1 MiB) is the app's.
accesslog = None  # one line per tick is noise; pass --access-logfile - to get them (JSON too)
errorlog = "-"
# No management socket (gunicorn >= 24 opens ~/.gunicorn/gunicorn.ctl, one path for every instance).
control_socket_disable = True


def _load_logs():
    """app/logs.py without importing the app package (and Dash) into the master process."""
    spec = importlib.util.spec_from_file_location("linewatch_logs", Path(__file__).with_name("app") / "logs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LOG_FORMAT = os.environ.get("LINEWATCH_LOG_FORMAT", "text").strip().lower() or "text"


class LineWatchLogger(Logger):
    """gunicorn's logger with LineWatch's line format (JSON when LINEWATCH_LOG_FORMAT=json)."""

    def setup(self, cfg):
        super().setup(cfg)
        if _LOG_FORMAT == "json":
            formatter = _load_logs().JsonFormatter()
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(formatter)


logger_class = LineWatchLogger


# Every worker writes its counters into PROMETHEUS_MULTIPROC_DIR and /metrics on any worker sums
# them (app/metrics.py).  prometheus_client picks its mode when imported, so the variable is set
# here, as the file is read: before the workers, or the master with --preload, import it.  A
# directory the user gave is used as it is and kept (an ingest worker on this host may share it:
# README "Metrics"); otherwise the master makes its own and removes it when it exits.
_METRICS_DIR_OWNER = "LINEWATCH_METRICS_DIR_OWNER"  # the pid of the master that made the directory


def _set_metrics_dir() -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.environ.get(_METRICS_DIR_OWNER) in (None, str(os.getpid())):  # the user's, or ours (on HUP)
        os.makedirs(path, exist_ok=True)
        return
    path = tempfile.mkdtemp(prefix="linewatch-metrics-")  # also for a new master after USR2 (not the old one's)
    os.environ.update({"PROMETHEUS_MULTIPROC_DIR": path, _METRICS_DIR_OWNER: str(os.getpid())})


_set_metrics_dir()


def child_exit(server, worker):
    """prometheus_client's clean-up for an exited worker: its live gauges go (LineWatch computes its
    gauges at scrape time, so there are none); its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this master made."""
    if os.environ.get(_METRICS_DIR_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def on_starting(server):
    """Refuse several workers sharing nothing (the in-memory store) before any starts."""
    from app.config import Config, ConfigError
    from app.runtime import refuse_memory_store_with_workers

    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        raise SystemExit(f"linewatch: invalid configuration: {exc}") from None
    refuse_memory_store_with_workers(config, server.cfg.workers)
