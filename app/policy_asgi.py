"""The HTTP policy (app/policy.py) around an ASGI app: HTTP requests and WebSocket handshakes.

The same decisions as app/policy_wsgi.py gives Flask: prefix, trusted proxies, viewer access
(a refused socket gets the HTTP answer at the handshake: 401, or 429 with Retry-After), the body
limit (a chunked body is measured first), well-formed callback requests, response headers, gzip
(starlette's, with the policy's types, level and minimum size) and a JSON 500.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipResponder, IdentityResponder
from starlette.responses import JSONResponse
from starlette.websockets import WebSocketClose

from app.policy import (GZIP_LEVEL, GZIP_MIN_SIZE, GZIP_TYPES, MAX_BODY_BYTES, SERVER_ERROR, Policy, Refusal,
                        accepts_gzip)

log = logging.getLogger(__name__)


class _PolicyTypes:
    """Compress the policy's content types only (starlette's own setting lists exclusions), and
    judge the size by Content-Length when there is one (a2wsgi streams Flask's answers in parts)."""

    async def send_with_compression(self, message) -> None:
        if message["type"] == "http.response.start":
            headers = Headers(raw=message["headers"])
            media = headers.get("content-type", "").partition(";")[0].strip().lower()
            length = headers.get("content-length", "")
            small = length.isdigit() and int(length) < GZIP_MIN_SIZE
            self.exclude_content_types = () if media in GZIP_TYPES and not small else (media,)
        await super().send_with_compression(message)


class _Gzip(_PolicyTypes, GZipResponder):
    pass


class _Identity(_PolicyTypes, IdentityResponder):  # no gzip accepted: the same Vary header
    pass


def _json(refusal: Refusal) -> JSONResponse:
    return JSONResponse({"error": refusal.message}, refusal.status, dict(refusal.headers))


def _handshake_refusal(refusal: Refusal, scope):
    """A refused WebSocket handshake answers as HTTP would (401, 429 with ``Retry-After``...) where the
    server can send such an answer (the ASGI denial-response extension); otherwise 403."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        return _json(refusal)
    return WebSocketClose(1008)


class PolicyMiddleware:
    """ASGI middleware applying ``policy`` to every HTTP request and WebSocket of ``app``."""

    def __init__(self, app, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self.policy
        root, path = scope.get("root_path", ""), scope["path"]
        path, root = policy.path(path[len(root):] if root and path.startswith(root) else path, root)
        scope = {**scope, "path": root + path, "raw_path": quote(root + path).encode(), "root_path": root}
        headers = Headers(scope=scope)
        if "chunked" in headers.get("transfer-encoding", "").lower():  # no length said: measure it (<= limit + 1)
            receive, body = await _measured(receive)  # and from here on the body has that length
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
            scope["headers"].append((b"content-length", str(len(body)).encode()))
            headers = Headers(scope=scope)
        peer = (scope.get("client") or ("", 0))[0]
        _user, refusal = policy.check(scope.get("method", "GET"), path, headers, peer)
        if refusal is None and scope["type"] == "http" and policy.is_callback(scope["method"], path):
            receive, body = await _measured(receive)
            refusal = policy.callback_refusal(body)
        scope = _forwarded(scope, policy.forwarded(peer, headers)) if refusal is None else scope
        if scope["type"] == "websocket":
            await (_handshake_refusal(refusal, scope) if refusal else self.app)(scope, receive, send)
        else:
            await self._http(_json(refusal) if refusal else self.app, scope, receive, send, headers)

    async def _http(self, app, scope, receive, send, headers: Headers) -> None:
        query = scope.get("query_string", b"").decode("latin1")
        missing = self.policy.page_status(scope["method"], scope["path"][len(scope["root_path"]):])
        started = []

        async def headed_send(message):
            if message["type"] == "http.response.start":
                if missing and message["status"] == 200:
                    message = {**message, "status": missing}
                started.append(message["status"])
                answer = MutableHeaders(scope=message)
                for name, value in self.policy.response_headers(answer.get("content-type"), query):
                    if name == "Set-Cookie":
                        answer.append(name, value)
                    else:
                        answer[name] = value
            await send(message)

        gzip = accepts_gzip(headers.get("accept-encoding"))
        responder = _Gzip(app, GZIP_MIN_SIZE, compresslevel=GZIP_LEVEL) if gzip else _Identity(app, GZIP_MIN_SIZE)
        try:
            await responder(scope, receive, headed_send)
        except Exception:
            if started:
                raise
            log.exception("request failed: %s %s", scope["method"], scope["path"])
            await _json(SERVER_ERROR)(scope, receive, headed_send)  # the traceback stays in the log


async def _measured(receive):
    """(a receive that replays the body, the body), the body read up to the limit + 1 byte."""
    parts, size, more = [], 0, True
    while more and size <= MAX_BODY_BYTES:
        message = await receive()
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        more = message["type"] == "http.request" and message.get("more_body", False)
    body = b"".join(parts)
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay, body


def _forwarded(scope, forwarded: dict[str, str]):
    """``scope`` as a trusted proxy describes the request (client, scheme, public host)."""
    if not forwarded:
        return scope
    scope = dict(scope)
    if "client" in forwarded:
        scope["client"] = (forwarded["client"], 0)
    if "scheme" in forwarded:
        secure = forwarded["scheme"] == "https"
        scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else forwarded["scheme"]
    if "host" in forwarded:  # the public host: Dash compares the socket's Origin with it
        host = (b"host", forwarded["host"].encode())
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [host]
    return scope
