"""A private redis-server for tests: a free loopback port, no persistence, never the system's 6379.

``RedisServer`` can be killed, frozen (SIGSTOP) and started again on the same port, which is
how the tests take the store away from a running deployment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.helpers.processes import free_port
from tests.helpers.waiting import wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SYSTEM_PORT = 6379


class RedisServer:
    """``redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --daemonize no`` in ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        if self.port == SYSTEM_PORT:
            raise ValueError("tests never use the system Redis port 6379")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self._starts = 0

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start (or start again, on the same port, empty) and wait until it answers PING."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        self._starts += 1
        log = open(self.workdir / f"redis-{self.port}-{self._starts}.log", "wb")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            wait_until(self._answering, timeout, f"redis-server on port {self.port}")
        except AssertionError:
            raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s") from None
        return self

    def _answering(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode} (port {self.port})")
        return self.ping()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ping(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the data is gone (no persistence), the port is free for a restart."""
        self._signal(signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if not self.running:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _signal(self, sig: int) -> None:
        if not self.running:
            raise RuntimeError("redis-server is not running")
        os.kill(self.proc.pid, sig)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
