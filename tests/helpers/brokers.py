"""A private mosquitto for tests: its own config, data and loopback port; never the system one."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
from pathlib import Path

from tests.helpers.processes import free_port
from tests.helpers.waiting import wait_until

MOSQUITTO = "/usr/sbin/mosquitto"


class Broker:
    """mosquitto on ``127.0.0.1:<port>`` with persistence in ``workdir``; restartable on the same port.

    ``settings`` are config lines for the listener (TLS files, authentication)."""

    def __init__(self, workdir: Path, settings: str = "allow_anonymous true") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        workdir.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwuid(os.getuid()).pw_name  # as root, mosquitto would switch to a user who cannot write here
        self.config_path.write_text(f"listener {self.port} 127.0.0.1\n{settings}\nuser {user}\n"
                                    f"persistence true\npersistence_location {workdir}/\n")

    def start(self, timeout: float = 10.0) -> "Broker":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config_path)], stdout=log, stderr=log,
                                         start_new_session=True)
        try:
            wait_until(self._listening, timeout, f"mosquitto on port {self.port}")
        except AssertionError:
            self.stop()
            raise RuntimeError(f"mosquitto not listening on {self.port} after {timeout}s") from None
        return self

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM saves the sessions to disk; SIGKILL loses what was not saved yet."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 it signed: ``(ca, cert, key)``."""
    ca, ca_key, cert, key = (directory / name for name in ("ca.crt", "ca.key", "server.crt", "server.key"))
    new = ["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-days", "1"]
    subprocess.run(new + ["-keyout", ca_key, "-out", ca, "-subj", "/CN=linewatch-test-ca"],
                   check=True, capture_output=True)
    subprocess.run(new + ["-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-CA", ca, "-CAkey", ca_key,
                          "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    return ca, cert, key


def password_file(path: Path, user: str, password: str) -> Path:
    subprocess.run(["mosquitto_passwd", "-c", "-b", path, user, password], check=True, capture_output=True)
    return path
