"""A local webhook receiver for tests: records what it is sent, fails on demand."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.notify import SIGNATURE_HEADER


class Receiver:
    """An HTTP receiver on a free port that answers 500 to its first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.bodies, self.signatures = failures, [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(json.loads(body))
                    receiver.signatures.append((self.headers.get(SIGNATURE_HEADER), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
