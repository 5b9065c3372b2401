"""The app as a real process: free loopback ports, the Procfile's argv, ``ServerProcess``."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.helpers.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_web_argv() -> list[str]:
    """The Procfile's ``web:`` command, with ``{port}`` where the port goes."""
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    return shlex.split(line.removeprefix("web:").replace("${PORT:-8050}", "{port}"))


def app_argv() -> list[str]:
    """``python -m app`` on loopback, with ``{port}`` where the port goes."""
    return [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", "{port}"]


class ServerProcess:
    """A LineWatch process (``python -m app`` or gunicorn) on a free loopback port."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def answers(self, path: str = "/healthz") -> bool:
        """True once ``path`` answers 200; raises if the process has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> None:
        try:
            wait_until(lambda: self.answers(path), timeout, f"{self.url}{path}")
        except AssertionError:
            raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}") from None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process group and wait; SIGKILL only after ``timeout``, which outlasts
        gunicorn.conf.py's graceful_timeout (20 s) so gunicorn's own shutdown is what a test sees."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
