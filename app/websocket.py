"""The WebSocket transport (``LINEWATCH_TRANSPORT=websocket``): one ASGI app around two.

- **Dash** runs on its FastAPI backend with ``websocket_callbacks=True``: the page, assets,
  layout and the tick callback, which travels over ``<prefix>_dash-ws-callback`` (one
  socket per browser, kept open by Dash's SharedWorker).  ``<prefix>_dash-update-component``
  stays available: a browser whose socket cannot connect (a proxy that refuses the Upgrade)
  polls over HTTP instead (assets/transport.js).
- **The HTTP API** (``/healthz``, ``/readyz``, ``/api/v1/*``) and ``/metrics`` are the very same
  Flask blueprints and hooks as with HTTP polling (``create_app`` puts them on a small Flask
  app of their own), served through a2wsgi: every path Flask has a route for goes there.
- **Around Dash** this module does in ASGI what app/security.py does with Flask hooks, with
  its policy pieces (CSP, frame options, proxy trust, users file): security headers, viewer
  access control (``LINEWATCH_AUTH``, the socket included), trusted ``X-Forwarded-*``, the
  1 MiB body limit, the URL prefix whichever way requests arrive, the ``?lang=`` cookie, gzip
  (starlette's), and tick metrics for both transports.  It also starts the runtime in the
  serving process (ASGI lifespan, or the first request) and stops it on shutdown.

Serve it with ``gunicorn -c gunicorn.conf.py -k uvicorn.workers.UvicornWorker app.asgi:application``
(``forwarded_allow_ips = ""`` there keeps uvicorn itself from believing ``X-Forwarded-*``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from urllib.parse import parse_qs, quote

import anyio
from a2wsgi import WSGIMiddleware
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from werkzeug.datastructures import Authorization
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.http import dump_cookie

from app import compress, security
from app.api import MAX_BODY_BYTES
from app.i18n import LANG_COOKIE, LANG_COOKIE_AGE_S, TEXT

log = logging.getLogger(__name__)

# The renderer's request hooks tell assets/transport.js when a callback over the socket stalls.
RENDERER = "var renderer = new DashRenderer((window.linewatchTransport || {}).hooks);"
MAX_TIMED_REQUESTS = 1000  # tick requests awaiting their answer, per socket
JSON_HEADERS = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]


def dash_options() -> dict:
    """Dash's keyword arguments for this transport (``create_app`` passes them)."""
    # No OpenAPI pages (/docs would load Swagger UI from a CDN): this FastAPI app only carries Dash.
    server = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    return {"server": server, "backend": "fastapi", "websocket_callbacks": True}


def install(dash_app, http_api, runtime, config) -> "LineWatchASGI":
    """Wrap ``dash_app`` (FastAPI backend) and ``http_api`` (Flask) into the app to serve."""
    dash_app.renderer = RENDERER
    application = LineWatchASGI(dash_app, http_api, runtime, config)
    state = dash_app.server.state
    state.linewatch, state.linewatch_asgi = runtime, application
    return application


def asgi_app(dash_app) -> "LineWatchASGI":
    """The ASGI application of an app built with ``LINEWATCH_TRANSPORT=websocket``."""
    return dash_app.server.state.linewatch_asgi


def serve(dash_app, config) -> None:
    """Run the app in this process with uvicorn (``python -m app`` with the WebSocket transport)."""
    import uvicorn

    uvicorn.run(asgi_app(dash_app), host=config.host, port=config.port, log_config=None, access_log=False,
                proxy_headers=False, forwarded_allow_ips="", lifespan="on")


def _hop(value: str | None, hops: int) -> str | None:
    """The value the ``hops``-th proxy from us saw (werkzeug ProxyFix's rule)."""
    values = [part.strip() for part in (value or "").split(",") if part.strip()]
    return values[-hops] if hops and len(values) >= hops else None


async def _send_json(send, status: int, body: dict, extra: list | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class LineWatchASGI:
    """The ASGI app: the HTTP API's routes to Flask, everything else to Dash (see module doc)."""

    def __init__(self, dash_app, http_api, runtime, config) -> None:
        self.dash_app = dash_app
        self.runtime = runtime
        self.config = config
        # gzip as app/compress.py does (level 6, 1 KiB and up; a 1-point tick is not), sockets pass through
        self.dash = GZipMiddleware(dash_app.server, minimum_size=compress.MIN_SIZE, compresslevel=compress.LEVEL)
        self.api = WSGIMiddleware(http_api)
        self.api_routes = http_api.url_map.bind("localhost")
        self.metrics = http_api.extensions["linewatch_metrics"]
        self.tick_mark = f'"{self.metrics.tick_output}"'  # cheap test before parsing a message as JSON
        self.prefix = config.url_prefix
        self.bare = self.prefix.rstrip("/")
        self.tick_path = self.prefix + "_dash-update-component"
        self.ancestors = security.frame_ancestors_sources(config.frame_ancestors)
        self.x_frame = security.frame_options(self.ancestors)
        self.networks = security.proxy_networks(config)
        self.users = security.BasicUsers(config.auth_users_file) if config.auth == "basic" else None
        self._policy: str | None = None  # built at the first page, once every inline script is known
        self._started_pid: int | None = None

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.dash(scope, self._lifespan(receive), send)
            return
        if kind not in ("http", "websocket"):
            await self.dash(scope, receive, send)
            return
        scope = self._under_prefix(scope)
        if self._started_pid != os.getpid():  # a server without lifespan events: start on first use
            await self._start()
        if kind == "http" and self._is_api(scope):
            await self.api(scope, receive, send)  # Flask applies its own hooks (app/security.py)
            return
        user = self._user(scope)
        scope = self._forwarded(scope)
        if self.config.auth != "none" and user is None:
            await self._refuse(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    # -- the serving process -------------------------------------------------------------

    async def _start(self) -> None:
        await anyio.to_thread.run_sync(self.runtime.ensure_started)  # restores history from SQLite: not on the loop
        self._started_pid = os.getpid()

    def _lifespan(self, receive):
        """Start the runtime when the worker starts, stop it (last batch recorded) when it stops."""
        async def wrapped():
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
            elif message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self.runtime.stop)
            return message
        return wrapped

    # -- routing ---------------------------------------------------------------------------

    def _under_prefix(self, scope):
        """Every path under the prefix, whether the proxy keeps it, strips it or sets root_path."""
        root = scope.get("root_path", "")
        if self.prefix == "/" and not root:
            return scope
        path = scope["path"]
        if not (path.startswith(self.prefix) or path == self.bare):
            joined = path if root and path.startswith(root) else root.rstrip("/") + path
            joined = joined or "/"
            path = joined if joined.startswith(self.prefix) or joined == self.bare else self.bare + joined
        return {**scope, "path": path, "raw_path": quote(path).encode(), "root_path": ""}

    def _is_api(self, scope) -> bool:
        """A path the Flask side has a route for (405 and slash redirects are Flask's to give too)."""
        try:
            self.api_routes.match(scope["path"], method=scope["method"])
        except NotFound:
            return False
        except HTTPException:
            return True
        return True

    # -- proxies and access ------------------------------------------------------------------

    def _trusted(self, scope) -> bool:
        peer = (scope.get("client") or ("", 0))[0]
        return security.is_trusted_peer({"REMOTE_ADDR": peer}, self.networks)

    def _forwarded(self, scope):
        """X-Forwarded-For/-Proto/-Host from a trusted proxy (LINEWATCH_TRUSTED_PROXIES hops), as ProxyFix."""
        hops = self.config.trusted_proxies
        if not hops or not self._trusted(scope):
            return scope
        headers = Headers(scope=scope)
        scope = dict(scope)
        client = _hop(headers.get("x-forwarded-for"), hops)
        if client:
            scope["client"] = (client, 0)
        proto = _hop(headers.get("x-forwarded-proto"), hops)
        if proto in ("http", "https"):
            secure = proto == "https"
            scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto
        host = _hop(headers.get("x-forwarded-host"), hops)
        if host:  # the public host: Dash compares the socket's Origin with it
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host.encode())]
        return scope

    def _user(self, scope) -> str | None:
        if self.config.auth == "basic":
            auth = Authorization.from_header(Headers(scope=scope).get("authorization"))
            if auth and auth.type == "basic" and auth.username and self.users.check(auth.username,
                                                                                      auth.password or ""):
                return auth.username
            return None
        if self.config.auth == "header" and self._trusted(scope):
            return Headers(scope=scope).get(self.config.auth_header, "").strip() or None
        return None

    async def _refuse(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # before accept: the handshake gets 403
            return
        extra = []
        if self.config.auth == "basic":
            extra.append((b"www-authenticate", f'Basic realm="{security.REALM}", charset="UTF-8"'.encode()))
        await _send_json(send, 401, {"error": "authentication required"}, extra)

    # -- Dash over HTTP: the page, assets, layout and (fallback) callback POSTs -----------

    def _page_headers(self, headers: MutableHeaders, lang: str | None) -> None:
        headers["X-Content-Type-Options"] = "nosniff"
        if headers.get("content-type", "").startswith("text/html"):
            if self._policy is None:
                self._policy = security.content_security_policy(self.dash_app.csp_hashes(), self.ancestors)
            headers["Content-Security-Policy"] = self._policy
            headers["Referrer-Policy"] = security.REFERRER_POLICY
            if self.x_frame:
                headers["X-Frame-Options"] = self.x_frame
        if lang:  # ?lang= on the page sticks (a cookie), since Dash fetches the layout separately
            
            headers.append("Set-Cookie", dump_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_AGE_S,
                                                     path=self.prefix, samesite="Lax"))

    async def _http(self, scope, receive, send) -> None:
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _send_json(send, 413, {"error": f"request body larger than {MAX_BODY_BYTES} bytes"})
            return
        query = scope.get("query_string", b"")
        lang = (parse_qs(query.decode("latin1")).get("lang") or [None])[0] if b"lang=" in query else None
        lang = lang if lang in TEXT else None
        tick = scope["method"] == "POST" and scope["path"] == self.tick_path
        body: list[bytes] = []
        state = {"received": 0, "too_large": False, "status": None}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                state["received"] += len(chunk)
                if state["received"] > MAX_BODY_BYTES:  # a chunked body without Content-Length
                    state["too_large"] = True
                    return {"type": "http.disconnect"}
                if tick:
                    body.append(chunk)
            return message

        async def headed_send(message):
            if state["too_large"]:
                return  # the 413 below answers instead
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                self._page_headers(MutableHeaders(scope=message), lang)
            await send(message)

        started = time.perf_counter()
        try:
            await self.dash(scope, limited_receive, headed_send)
        except Exception:
            if state["status"] is not None:
                raise
            log.exception("request failed: %s %s", scope["method"], scope["path"])
            await _send_json(send, 500, {"error": "internal server error"})  # the traceback stays in the log
            return
        if state["too_large"]:
            await _send_json(send, 413, {"error": f"request body larger than {MAX_BODY_BYTES} bytes"})
        elif tick and state["status"] is not None:
            self._observe_http_tick(scope, b"".join(body), state["status"], time.perf_counter() - started)

    def _viewer(self, scope) -> str:
        return f"{(scope.get('client') or ('', 0))[0]}|{Headers(scope=scope).get('user-agent', '')}"

    def _observe_http_tick(self, scope, body: bytes, status: int, duration: float) -> None:
        if status >= 400:
            self.metrics.callback_error()
            return
        if self.tick_mark.encode() not in body:
            return
        try:
            output = json.loads(body).get("output")
        except (ValueError, AttributeError):
            return
        if output == self.metrics.tick_output:
            self.metrics.tick(duration, self._viewer(scope), time.time())

    # -- Dash over the socket: callbacks ---------------------------------------------------

    async def _websocket(self, scope, receive, send) -> None:
        """Dash's socket, with tick requests timed from arrival to answer for /metrics."""
        viewer = self._viewer(scope)
        waiting: dict[str, float] = {}

        async def timed_receive():
            message = await receive()
            text = message.get("text") if message["type"] == "websocket.receive" else None
            if text and self.tick_mark in text:
                try:
                    request = json.loads(text)
                except ValueError:
                    return message
                if (isinstance(request, dict) and request.get("type") == "callback_request"
                        and (request.get("payload") or {}).get("output") == self.metrics.tick_output):
                    if len(waiting) >= MAX_TIMED_REQUESTS:
                        waiting.clear()
                    waiting[request.get("requestId")] = time.perf_counter()
            return message

        async def timed_send(message):
            if waiting and message["type"] == "websocket.send":
                text = message.get("text") or ""
                if '"callback_response"' in text:
                    self._observe_socket_answers(text, waiting, viewer)
            await send(message)

        await self.dash(scope, timed_receive, timed_send)

    def _observe_socket_answers(self, text: str, waiting: dict, viewer: str) -> None:
        try:
            messages = json.loads(text)
        except ValueError:
            return
        now = time.perf_counter()
        for message in messages if isinstance(messages, list) else [messages]:
            if not isinstance(message, dict) or message.get("type") != "callback_response":
                continue
            started = waiting.pop(message.get("requestId"), None)
            if started is None:
                continue
            if (message.get("payload") or {}).get("status") == "error":
                self.metrics.callback_error()
            else:
                self.metrics.tick(now - started, viewer, time.time())
