"""The ASGI app of the WebSocket and push transports (``LINEWATCH_TRANSPORT=websocket`` or ``push``): one app around two.

- **Dash** runs on its FastAPI backend with ``websocket_callbacks=True``: the page, assets,
  layout and the tick callback, which travels over ``<prefix>_dash-ws-callback`` (one
  socket per browser, kept open by Dash's SharedWorker).  ``<prefix>_dash-update-component``
  stays available: a browser whose socket cannot connect (a proxy that refuses the Upgrade)
  polls over HTTP instead (assets/transport.js).
- **The HTTP API** (``/healthz``, ``/readyz``, ``/api/v1/*``) and ``/metrics`` are the very same
  Flask blueprints as with HTTP polling (``create_app`` puts them on a small Flask
  app of their own), served through a2wsgi: every path Flask has a route for goes there.
- **The HTTP policy** (app/policy.py) wraps both, applied by app/policy_asgi.py: the same prefix,
  proxy trust, viewer access (the socket included), body limit, headers and gzip as with HTTP
  polling.  Inside it, ticks are timed for /metrics over the socket and over HTTP (the
  fallback), and the runtime starts in the serving process (ASGI lifespan, or the first
  request) and stops on shutdown.
- **Push** (``LINEWATCH_TRANSPORT=push``): Dash's callbacks stay on HTTP and the ticks stream as
  Server-Sent Events from ``<prefix>api/v1/stream`` (app/stream.py), inside the same policy.

Serve it with ``gunicorn -c gunicorn.conf.py -k uvicorn.workers.UvicornWorker app.asgi:application``
(``forwarded_allow_ips = ""`` there keeps uvicorn itself from believing ``X-Forwarded-*``).
"""

from __future__ import annotations

import json
import os
import time

import anyio
from a2wsgi import WSGIMiddleware
from fastapi import FastAPI
from starlette.datastructures import Headers
from werkzeug.exceptions import HTTPException, NotFound

from app.policy import Policy, viewer_key
from app.policy_asgi import PolicyMiddleware
from app.stream import Streams

# The renderer's request hooks tell assets/transport.js when a callback over the socket stalls.
RENDERER = "var renderer = new DashRenderer((window.linewatchTransport || {}).hooks);"
MAX_TIMED_REQUESTS = 1000  # tick requests awaiting their answer, per socket


def dash_options(websocket_callbacks: bool = True) -> dict:
    """Dash's keyword arguments for this app (``create_app`` passes them); callbacks over HTTP for push."""
    # No OpenAPI pages (/docs would load Swagger UI from a CDN): this FastAPI app only carries Dash.
    server = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    return {"server": server, "backend": "fastapi", "websocket_callbacks": websocket_callbacks}


def install(dash_app, http_api, runtime, policy: Policy, streams: Streams | None = None) -> PolicyMiddleware:
    """Wrap ``dash_app`` (FastAPI backend), ``http_api`` (Flask) and the push ``streams`` (when pushing)
    into the app to serve."""
    dash_app.renderer = RENDERER
    http_api.config["PROPAGATE_EXCEPTIONS"] = True  # the policy answers a JSON 500 (and logs the traceback)
    application = PolicyMiddleware(LineWatchASGI(dash_app, http_api, runtime, streams), policy)
    state = dash_app.server.state
    state.linewatch, state.linewatch_asgi = runtime, application
    return application


def asgi_app(dash_app) -> PolicyMiddleware:
    """The ASGI application of an app built with ``LINEWATCH_TRANSPORT=websocket``."""
    return dash_app.server.state.linewatch_asgi


def serve(dash_app, config) -> None:
    """Run the app in this process with uvicorn (``python -m app`` with the WebSocket transport)."""
    import uvicorn

    uvicorn.run(asgi_app(dash_app), host=config.host, port=config.port, log_config=None, access_log=False,
                proxy_headers=False, forwarded_allow_ips="", lifespan="on")


def _viewer(scope) -> str:
    return viewer_key((scope.get("client") or ("", 0))[0], Headers(scope=scope).get("user-agent"))


class LineWatchASGI:
    """The push streams, the HTTP API's routes to Flask, everything else to Dash; ticks timed (see module doc)."""

    def __init__(self, dash_app, http_api, runtime, streams: Streams | None = None) -> None:
        self.dash = dash_app.server
        self.streams = streams
        self.runtime = runtime
        self.api = WSGIMiddleware(http_api)
        self.api_routes = http_api.url_map.bind("localhost")
        self.metrics = http_api.extensions["linewatch_metrics"]
        self.tick_marks = [f'"{output}"' for output in self.metrics.tick_outputs]  # cheap tests before parsing JSON
        self.tick_path = runtime.config.url_prefix + "_dash-update-component"
        self._started_pid: int | None = None

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.dash(scope, self._lifespan(receive), send)
            return
        if kind in ("http", "websocket") and self._started_pid != os.getpid():  # no lifespan events: first use
            await self._start()
        if self.streams is not None and self.streams.serves(scope):
            await self.streams(scope, receive, send)
        elif kind == "http" and self._is_api(scope):
            await self.api(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http" and scope["method"] == "POST" and scope["path"] == self.tick_path:
            await self._http_tick(scope, receive, send)
        else:
            await self.dash(scope, receive, send)

    # -- the serving process -------------------------------------------------------------

    async def _start(self) -> None:
        await anyio.to_thread.run_sync(self.runtime.ensure_started)  # restores history from SQLite: not on the loop
        if self.streams is not None:
            self.streams.end_all_on_exit()
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

    def _is_api(self, scope) -> bool:
        """A path the Flask side has a route for (405 and slash redirects are Flask's to give too)."""
        try:
            self.api_routes.match(scope["path"], method=scope["method"])
        except NotFound:
            return False
        except HTTPException:
            return True
        return True

    # -- ticks over HTTP: the fallback -------------------------------------------------------

    async def _http_tick(self, scope, receive, send) -> None:
        body, status = [], []

        async def recording_receive():
            message = await receive()
            body.append(message.get("body", b""))
            return message

        async def recording_send(message):
            status.append(message.get("status"))
            await send(message)

        started = time.perf_counter()
        await self.dash(scope, recording_receive, recording_send)
        if status and status[0] >= 400:
            self.metrics.callback_error()
        elif self._may_be_tick(b"".join(body).decode("utf-8", "replace")):
            try:
                page = self.metrics.page_of(json.loads(b"".join(body)).get("output"))
            except (ValueError, AttributeError):
                return
            if page is not None:
                self.metrics.tick(page, time.perf_counter() - started, _viewer(scope), time.time())

    def _may_be_tick(self, text: str) -> bool:
        """Whether a message names a tick callback's output (to parse it only then)."""
        return any(mark in text for mark in self.tick_marks)

    # -- ticks over the socket ---------------------------------------------------------------

    async def _websocket(self, scope, receive, send) -> None:
        """Dash's socket, with tick requests timed from arrival to answer for /metrics."""
        viewer = _viewer(scope)
        waiting: dict[str, tuple[str, float]] = {}  # request id: (page, started)

        async def timed_receive():
            message = await receive()
            text = message.get("text") if message["type"] == "websocket.receive" else None
            if text and self._may_be_tick(text):
                try:
                    request = json.loads(text)
                except ValueError:
                    return message
                page = (self.metrics.page_of((request.get("payload") or {}).get("output"))
                        if isinstance(request, dict) and request.get("type") == "callback_request" else None)
                if page is not None:
                    if len(waiting) >= MAX_TIMED_REQUESTS:
                        waiting.clear()
                    waiting[request.get("requestId")] = (page, time.perf_counter())
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
            asked = waiting.pop(message.get("requestId"), None)
            if asked is None:
                continue
            if (message.get("payload") or {}).get("status") == "error":
                self.metrics.callback_error()
            else:
                page, started = asked
                self.metrics.tick(page, now - started, viewer, time.time())
