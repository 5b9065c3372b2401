"""The factory: ``create_app(config)`` builds the Dash app and wires every part (the only module that knows them all)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dash
import flask
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

import callbacks
import layouts
from app import metrics, policy_wsgi
from app.api import create_api
from app.config import ASGI_TRANSPORTS, Config
from app.i18n import LANG_COOKIE, TEXT, choose_lang, labels
from app.policy import Policy, alarm_actor
from app.runtime import make_runtime

ROOT = Path(__file__).resolve().parent.parent
# Each transport's own script in assets/: the others are not served (Dash's assets_ignore).
TRANSPORT_ASSETS = {"websocket": "transport.js", "push": "linewatch_push.js"}


def create_app(config: Config, server: flask.Flask | None = None) -> dash.Dash:
    """Build the Dash app for ``config``; starts no thread.

    With ``server`` (an existing Flask app, e.g. a portal) LineWatch mounts onto it under
    ``config.url_prefix``, which must then be a path of its own; otherwise it gets its own.

    With ``LINEWATCH_TRANSPORT=websocket`` Dash runs on its FastAPI backend with WebSocket
    callbacks, and the HTTP API and metrics go on a small Flask app of their own;
    ``app.asgi:application`` serves both (app/websocket.py); with ``push``, Dash's callbacks stay on
    HTTP and the ticks also stream from ``api/v1/stream`` (app/stream.py).  Either way one HTTP policy
    (app/policy.py) covers every path: applied by app/policy_wsgi.py or app/policy_asgi.py.
    """
    if server is not None and config.url_prefix == "/":
        raise ValueError("mounting LineWatch on an existing Flask app needs a LINEWATCH_URL_PREFIX, e.g. /linewatch/")
    asgi = config.transport in ASGI_TRANSPORTS
    if asgi and server is not None:
        raise ValueError(f"LINEWATCH_TRANSPORT={config.transport} serves LineWatch as an ASGI app (app.asgi:application), "
                         "not on an existing Flask app: mount it beside the portal under its URL prefix")
    runtime = make_runtime(config)  # with STORE=memory it makes the data dir and checks it
    app = dash.Dash(
        __name__,
        title="LineWatch",
        assets_folder=str(ROOT / "assets"),
        requests_pathname_prefix=config.url_prefix,
        routes_pathname_prefix=config.url_prefix,
        serve_locally=True,
        update_title=None,
        suppress_callback_exceptions=True,  # a page's components come with the page (callbacks/pages.py)
        compress=False,  # the policy's gzip (app/policy_wsgi.py, app/policy_asgi.py), for LineWatch's paths only
        add_log_handler=False,  # Dash's messages go through app/logs.py like every other line
        **{"server": server if server is not None else True, **_transport_options(config)},
    )
    owns_server = server is None
    server = flask.Flask(__name__, static_folder=None) if asgi else app.server  # the HTTP API's app
    server.extensions["linewatch"] = runtime
    server.register_blueprint(create_api(runtime), url_prefix=config.url_prefix.rstrip("/") or None)
    server.before_request(runtime.ensure_started)

    def layout():
        if app.backend.has_request_context():  # Dash also calls this once at start-up, to validate
            asked = app.backend.request_adapter()  # Flask's request or FastAPI's, the same questions
            requested = (asked.args.get("lang") or asked.cookies.get(LANG_COOKIE)
                         or _referrer_lang(asked.headers.get("Referer")))
            lang = choose_lang(config.lang, requested, _accepted_languages(asked.headers.get("Accept-Language")))
        else:
            lang = choose_lang(config.lang, None, ())
        other = next(code for code in TEXT if code != lang)
        return layouts.build_layout(config, lang, labels(lang), other)

    def has_line(line_id: str) -> bool:
        """A line's page exists once the line is in the lines file or readings arrived for it."""
        return (any(spec.id == line_id for spec in config.lines)
                or any(line == line_id for line, _ in runtime.stores.items()))

    app.layout = layout
    channels = callbacks.register_all(app, runtime, runtime.ingestor.control_lines, lambda: _alarm_actor(config),
                                      has_line)
    _set_up_dash_before_any_request(app)
    ticks = {f"{layouts.ids.TICK}.data": "line", f"{layouts.ids.OVERVIEW_TICK}.data": "overview"}
    counted = metrics.install(server, runtime, config.url_prefix, tick_outputs=ticks)
    policy = Policy(config, app.csp_hashes, app.callback_map, has_line)
    if asgi:
        from app.stream import Streams
        from app.websocket import install

        streams = (Streams(config.url_prefix, channels.line, channels.overview, config.period, counted.pushed)
                   if config.transport == "push" else None)
        install(app, server, runtime, policy, streams)  # the ASGI app around FastAPI (Dash) and Flask (the API)
    else:
        policy_wsgi.install(server, policy, owns_server)  # after metrics: its timing includes the gzip
    return app


def _transport_options(config: Config) -> dict:
    """Dash's backend: Flask and HTTP callbacks (polling), or FastAPI (its own ``server``) with WebSocket
    callbacks (websocket) or HTTP ones (push); and the scripts of the other transports left out."""
    others = [name for transport, name in TRANSPORT_ASSETS.items() if transport != config.transport]
    ignore = {"assets_ignore": "^(" + "|".join(re.escape(name) for name in others) + ")$"}
    if config.transport not in ASGI_TRANSPORTS:
        return ignore
    from app.websocket import dash_options  # needs the `websocket` extra: pip install -e .[websocket]

    return {**dash_options(websocket_callbacks=config.transport == "websocket"), **ignore}


def _alarm_actor(config: Config) -> str:
    """Who acts on an alarm from the page: the user the HTTP policy signed in for this callback
    request.  WebSocket callbacks carry no WSGI environ: there only "anonymous" (auth off) may act."""
    return alarm_actor(config, flask.request.environ if flask.has_request_context() else {})


def _accepted_languages(header: str | None) -> list[str]:
    """The browser's languages, best first (Accept-Language, as Flask's ``request.accept_languages``)."""
    return list(parse_accept_header(header, LanguageAccept).values()) if header else []


def _referrer_lang(referrer: str | None) -> str | None:
    """``?lang=`` of the page that asks for the layout: in a cross-site iframe the cookie is not kept."""
    query = urlsplit(referrer or "").query
    return (parse_qs(query).get("lang") or [None])[0]


def _set_up_dash_before_any_request(app: dash.Dash) -> None:
    """Dash registers its scripts on a process's first request but flags that done before it
    is: a fresh worker whose first requests come in parallel (the page's scripts, spread over
    several gunicorn workers) answers some with 500 "dash is not a registered library".
    Run that set-up once, under a lock, before Dash's own hook (which then has nothing to do);
    on the FastAPI backend at once (it needs no request)."""
    lock = threading.Lock()
    done = threading.Event()

    def set_up() -> None:
        if not done.is_set():
            with lock:
                if not done.is_set():
                    app._setup_server()
                    done.set()

    if isinstance(app.server, flask.Flask):
        app.server.before_request_funcs.setdefault(None, []).insert(0, set_up)
    else:  # FastAPI (WebSocket transport) sets up on a first request to one of Dash's own paths only:
        set_up()  # a first page at /line/<id> would come without the assets
