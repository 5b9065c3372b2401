"""The HTTP policy (app/policy.py) around an ASGI app: HTTP requests and WebSocket handshakes.

The same decisions as app/policy_wsgi.py gives Flask: prefix, trusted proxies, viewer access
(a refused socket gets 403 at the handshake), the body limit (a chunked body too), response
headers, gzip (starlette's, with the policy's types, level and minimum size) and a JSON 500.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipResponder, IdentityResponder

from app.policy import (GZIP_LEVEL, GZIP_MIN_SIZE, GZIP_TYPES, MAX_BODY_BYTES, SERVER_ERROR, TOO_LARGE, Policy,
                        Refusal, accepts_gzip)

log = logging.getLogger(__name__)


class _PolicyTypes:
    """Compress the policy's content types only (starlette's own setting lists exclusions)."""

    async def send_with_compression(self, message) -> None:
        if message["type"] == "http.response.start":
            media = Headers(raw=message["headers"]).get("content-type", "").partition(";")[0].strip().lower()
            self.exclude_content_types = () if media in GZIP_TYPES else (media,)
        await super().send_with_compression(message)


class _Gzip(_PolicyTypes, GZipResponder):
    pass


class _Identity(_PolicyTypes, IdentityResponder):  # no gzip accepted: the same Vary header
    pass


async def _answer(send, refusal: Refusal) -> None:
    body = json.dumps({"error": refusal.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-content-type-options", b"nosniff"), *((k.lower().encode(), v.encode()) for k, v in refusal.headers)]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
        peer = (scope.get("client") or ("", 0))[0]
        _user, refusal = policy.check(scope.get("method", "GET"), path, headers, peer)
        if refusal is not None and scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
        elif refusal is not None:
            await _answer(send, refusal)
        elif scope["type"] == "websocket":
            await self.app(_forwarded(scope, policy.forwarded(peer, headers)), receive, send)
        else:
            await self._http(_forwarded(scope, policy.forwarded(peer, headers)), receive, send, headers)

    async def _http(self, scope, receive, send, headers: Headers) -> None:
        query = scope.get("query_string", b"").decode("latin1")
        state = {"received": 0, "too_large": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > MAX_BODY_BYTES:  # a chunked body without Content-Length
                    state["too_large"] = True
                    return {"type": "http.disconnect"}
            return message

        async def headed_send(message):
            if state["too_large"]:
                return  # the 413 below answers instead
            if message["type"] == "http.response.start":
                state["started"] = True
                answer = MutableHeaders(scope=message)
                for name, value in self.policy.response_headers(answer.get("content-type"), query):
                    if name == "Set-Cookie":
                        answer.append(name, value)
                    else:
                        answer[name] = value
            await send(message)

        if accepts_gzip(headers.get("accept-encoding")):
            responder = _Gzip(self.app, GZIP_MIN_SIZE, compresslevel=GZIP_LEVEL)
        else:
            responder = _Identity(self.app, GZIP_MIN_SIZE)
        try:
            await responder(scope, limited_receive, headed_send)
        except Exception:
            if state["started"]:
                raise
            if not state["too_large"]:
                log.exception("request failed: %s %s", scope["method"], scope["path"])
                await _answer(send, SERVER_ERROR)
                return
        if state["too_large"]:
            await _answer(send, TOO_LARGE)


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
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", forwarded["host"].encode())]
    return scope
