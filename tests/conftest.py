"""Shared fixtures: isolated configs and apps, and real server processes on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.web import create_app
from app.config import Config
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free port for the whole run (the system one is never used)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def config(tmp_path) -> Config:
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SIM_RATE": "50"})


@pytest.fixture
def dash_app(config):
    app = create_app(config)
    yield app
    app.server.extensions["linewatch"].stop()


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


class ServerProcess:
    """A LineWatch process (``python -m app`` or gunicorn) on a free loopback port."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_server(tmp_path):
    """Start ``python -m app`` (default) or another argv; every server is stopped afterwards."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, argv: list[str] | None = None, wait: bool = True) -> ServerProcess:
        port = free_port()
        env = {"LINEWATCH_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        argv = [a.replace("{port}", str(port)) for a in
                (argv or [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", "{port}"])]
        server = ServerProcess(argv, env, port, tmp_path / f"server-{port}.log")
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
