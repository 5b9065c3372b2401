"""A tiny reverse proxy for tests: publishes an upstream under a path prefix, keeping or stripping it.

Like nginx's ``location /tools/linewatch/ { proxy_pass http://app/; }`` (strip) or
``proxy_pass http://app;`` (keep), it adds X-Forwarded-For/Proto/Host (and -Prefix when it
strips).  It serves in a thread of the test process; ``upstream`` may be set after start.
"""

from __future__ import annotations

import http.client
import threading

from werkzeug.serving import make_server

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host"}


class ReverseProxy:
    def __init__(self, prefix: str, strip: bool, upstream: str | None = None) -> None:
        self.prefix = prefix  # e.g. /tools/linewatch/
        self.strip = strip
        self.upstream = upstream  # host:port
        self.requests: list[str] = []  # upstream paths, for assertions
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._local = threading.local()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "upstream", None) != self.upstream:
            host, port = self.upstream.rsplit(":", 1)
            conn = self._local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
            self._local.upstream = self.upstream
        return conn

    def _app(self, environ, start_response):
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        if not raw.startswith(self.prefix):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not behind this proxy\n"]
        path = "/" + raw[len(self.prefix):] if self.strip else raw
        self.requests.append(path)
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in HOP_BY_HOP}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        forwarded_for = headers.get("X-Forwarded-For")
        client = environ.get("REMOTE_ADDR", "")
        headers["X-Forwarded-For"] = f"{forwarded_for}, {client}" if forwarded_for else client
        headers["X-Forwarded-Proto"] = environ["wsgi.url_scheme"]
        headers["X-Forwarded-Host"] = environ.get("HTTP_HOST", "")
        if self.strip:
            headers["X-Forwarded-Prefix"] = self.prefix.rstrip("/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        for attempt in range(2):  # a kept-alive upstream connection may have been closed meanwhile
            conn = self._connection()
            try:
                conn.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt:
                    start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
                    return [b"upstream unreachable\n"]
        start_response(f"{response.status} {response.reason}",
                       [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP])
        return [data]
