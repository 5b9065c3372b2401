"""The HTTP policy (app/policy.py) on a Flask app: one WSGI middleware, gzip and JSON error pages.

On LineWatch's own server every path is LineWatch's.  Mounted on someone else's Flask app
(``create_app(config, server=...)``) the policy applies to the paths under the prefix only:
the host's other paths, its error pages and its proxy handling are left alone.
"""

from __future__ import annotations

import io
import json
import threading

from flask import Flask, jsonify, request
from flask_compress import Compress
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import InternalServerError
from werkzeug.wrappers import Response

from app.policy import GZIP_LEVEL, GZIP_MIN_SIZE, GZIP_TYPES, MAX_BODY_BYTES, SERVER_ERROR, Policy, accepts_gzip

BUNDLES = "/_dash-component-suites/"  # Dash's scripts: the same bytes while the process lives
CACHE_MAX_BYTES = 16 << 20  # all of Dash's bundles, compressed: ~3 MB


def peer_address(environ) -> str:
    """The address that opened the connection, before any ProxyFix (a host app's) rewrote REMOTE_ADDR."""
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    return original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or ""


class PolicyMiddleware:
    """WSGI middleware: prefix, proxies, access, body limit, callback requests and response headers of ``policy``."""

    def __init__(self, app, policy: Policy, owns_server: bool) -> None:
        self.app = app
        self.policy = policy
        self.owns_server = owns_server

    def __call__(self, environ, start_response):
        policy = self.policy
        if self.owns_server:
            environ["PATH_INFO"], environ["SCRIPT_NAME"] = policy.path(environ.get("PATH_INFO", ""),
                                                                       environ.get("SCRIPT_NAME", ""))
        elif not policy.in_scope(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)  # the host app's own path
        query = environ.get("QUERY_STRING", "")

        missing = policy.page_status(environ.get("REQUEST_METHOD", "GET"), environ["PATH_INFO"])

        def start(status, headers, exc_info=None):
            if missing and status.startswith("200"):
                status = f"{missing} NOT FOUND"
            added = policy.response_headers(next((v for k, v in headers if k.lower() == "content-type"), None), query)
            replaced = {name.lower() for name, _ in added} - {"set-cookie"}
            return start_response(status, [h for h in headers if h[0].lower() not in replaced] + added, exc_info)

        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():  # no length said: measure it (<= limit + 1)
            del environ["HTTP_TRANSFER_ENCODING"]  # and from here on the body has that length
            body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        headers, peer = EnvironHeaders(environ), peer_address(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        user, refusal = policy.check(method, environ["PATH_INFO"], headers, peer)
        if refusal is None and policy.is_callback(method, environ["PATH_INFO"]):
            refusal = policy.callback_refusal(_buffered_body(environ))
        if refusal is not None:
            return Response(json.dumps({"error": refusal.message}), refusal.status, refusal.headers,
                            mimetype="application/json")(environ, start)
        environ["linewatch.user"] = user  # for the log lines (app/logs.py)
        if self.owns_server:
            forwarded = policy.forwarded(peer, headers)
            for key, name in (("client", "REMOTE_ADDR"), ("scheme", "wsgi.url_scheme"), ("host", "HTTP_HOST")):
                if key in forwarded:
                    environ[name] = forwarded[key]
        return self.app(environ, start)


def _buffered_body(environ) -> bytes:
    """The request body (its length already checked against the limit), left readable for the app."""
    length = environ.get("CONTENT_LENGTH") or ""
    body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class BundleCache(dict):
    """Flask-Compress's cache (keys ``algorithm;path``), holding Dash's bundles only: plotly.min.js
    (4.8 MB, 0.1-0.4 s to compress) is asked again at every page load (revalidated: 304 only
    once it is compressed, to compare ETags)."""

    size = 0
    lock = threading.Lock()

    def set(self, key: str, value: bytes) -> None:
        with self.lock:
            if BUNDLES in key and key not in self and self.size + len(value) <= CACHE_MAX_BYTES:
                self[key] = value
                self.size += len(value)


def install(server: Flask, policy: Policy, owns_server: bool) -> None:
    """Apply ``policy`` to ``server`` (LineWatch's paths of it, when it is a host's app)."""
    server.wsgi_app = PolicyMiddleware(server.wsgi_app, policy, owns_server)

    def ours() -> bool:
        return owns_server or policy.in_scope(request.path)

    # Flask-Compress (Dash's compress=True) with the policy's settings, for LineWatch's paths only.  It reads
    # them from the app it is given: a config holder of its own, so a host app's settings stay the host's.
    settings = Flask(__name__)
    settings.config.update(COMPRESS_REGISTER=False, COMPRESS_MIMETYPES=sorted(GZIP_TYPES), COMPRESS_LEVEL=GZIP_LEVEL,
                           COMPRESS_MIN_SIZE=GZIP_MIN_SIZE, COMPRESS_ALGORITHM=["gzip"],
                           COMPRESS_ALGORITHM_STREAMING=["gzip"],
                           # files (Dash's assets) answer If-None-Match again, with the ETag of the gzipped body
                           COMPRESS_STREAMING_ENDPOINT_CONDITIONAL=[e for e in server.view_functions
                                                                    if e.split(".")[-1] == "static"],
                           COMPRESS_CACHE_BACKEND=BundleCache, COMPRESS_CACHE_KEY=lambda request: request.path)
    compress = Compress(settings)

    @server.after_request
    def gzip(response):
        if not ours() or (response.content_length or GZIP_MIN_SIZE) < GZIP_MIN_SIZE:
            return response  # a 1-point tick: no Vary header either
        if accepts_gzip(request.headers.get("Accept-Encoding")):  # Flask-Compress takes "gzip;q=0" for a yes
            return compress.after_request(response)
        response.vary.add("Accept-Encoding")
        return response

    # a server error on LineWatch's paths answers JSON (Flask has logged the traceback); the host app's
    # own handler, or Flask's default page, keeps the rest
    previous = server.error_handler_spec.get(None, {}).get(500, {}).get(InternalServerError)

    @server.errorhandler(InternalServerError)
    def server_error(exc):
        if ours():
            return jsonify(error=SERVER_ERROR.message), SERVER_ERROR.status
        return previous(exc) if previous is not None else exc
