"""gzip for LineWatch's responses (pages, scripts, styles, JSON), without a dependency.

A Flask ``after_request`` hook, scoped like the security headers: what is under the app's
prefix is compressed when the browser accepts gzip, the body is at least ``MIN_SIZE``
bytes (a 1-point tick, ~130 B, is not: it would only grow) and of a text type.
What never changes (fingerprinted Dash bundles, files with an ETag) is compressed once per
process and kept (``CACHE_MAX_BYTES``).
"""

from __future__ import annotations

import gzip
import threading

from flask import Flask, request

MIN_SIZE = 1024
LEVEL = 6
TYPES = {"text/html", "text/css", "text/javascript", "text/plain", "text/csv", "application/javascript",
         "application/json", "image/svg+xml", "image/x-icon"}
CACHE_MAX_BYTES = 16 << 20  # compressed immutable bundles kept (all of Dash's: ~3 MB)


class _Cache:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self.items.get(key)

    def put(self, key: str, body: bytes) -> None:
        with self.lock:
            if self.size + len(body) <= CACHE_MAX_BYTES and key not in self.items:
                self.items[key] = body
                self.size += len(body)


def _accepts_gzip() -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def install(server: Flask, in_scope) -> None:
    """Compress responses for which ``in_scope()`` is true (LineWatch's own paths)."""
    cache = _Cache()

    @server.after_request
    def compress(response):
        length = response.headers.get("Content-Length")
        if length is not None and int(length) < MIN_SIZE:
            return response  # a 1-point tick (~130 B) stays as it is, without a Vary header either; first: cheapest
        streamed = response.is_streamed and not response.direct_passthrough  # a file is fine, a generator not
        if (request.method == "HEAD" or response.status_code != 200 or streamed
                or response.mimetype not in TYPES or "Content-Encoding" in response.headers
                or "no-transform" in response.headers.get("Cache-Control", "") or not in_scope()):
            return response
        response.vary.add("Accept-Encoding")
        if not _accepts_gzip():
            return response
        etag, weak = response.get_etag()
        if etag and request.if_none_match:
            # Dash compares If-None-Match strictly with its strong ETag, which the browser
            # echoes back weak (below): answer the revalidation here, weakly, as HTTP says.
            response.make_conditional(request)
            if response.status_code == 304:
                return response
        # The same bytes every time: fingerprinted bundles (cached a year) and ETag'd files
        # (plotly.min.js, 4.8 MB, costs ~150 ms to compress) are compressed once per process.
        if etag:
            key = f"{request.path}|{etag}"
        elif (response.cache_control.max_age or 0) >= 86400 * 30:
            key = request.path
        else:
            key = None
        body = cache.get(key) if key else None
        if body is None:
            response.direct_passthrough = False  # static files arrive as a file wrapper
            raw = response.get_data()
            if len(raw) < MIN_SIZE:
                return response
            body = gzip.compress(raw, compresslevel=LEVEL, mtime=0)
            if key:
                cache.put(key, body)
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"
        response.headers.pop("Accept-Ranges", None)  # byte ranges of the file, not of this body
        if etag and not weak:
            response.set_etag(etag, weak=True)  # another representation of the same resource
        return response
