"""``python -m app [--host H] [--port P]``: serve LineWatch with its embedded defaults."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import flask.cli
from werkzeug.serving import WSGIRequestHandler

from app.web import create_app
from app.config import ASGI_TRANSPORTS, Config, ConfigError
from app.logs import setup_logging

log = logging.getLogger("app")


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler, its ``Server`` header without Werkzeug's and Python's versions."""

    def version_string(self) -> str:
        return "LineWatch"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="LineWatch defect-monitoring dashboard")
    parser.add_argument("--host", help="interface to bind (LINEWATCH_HOST, default 127.0.0.1)")
    parser.add_argument("--port", help="port to listen on (LINEWATCH_PORT, default 8050)")
    args = parser.parse_args(argv)
    overrides = {f"LINEWATCH_{name.upper()}": value for name, value in vars(args).items() if value is not None}
    try:
        config = Config.from_env(os.environ, overrides)
        setup_logging(config.log_format)  # text or JSON lines on stderr; werkzeug: no line per tick
        app = create_app(config)  # may still refuse a setting it checks (users file, frame ancestors)
    except ConfigError as exc:
        print(f"linewatch: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if config.transport in ASGI_TRANSPORTS:  # Dash on FastAPI: uvicorn serves it; its lifespan starts and stops the runtime
        from app.websocket import serve

        log.info("LineWatch on http://%s:%s%s (%s)", config.host, config.port, config.url_prefix,
                 "WebSocket callbacks" if config.transport == "websocket" else "ticks pushed as Server-Sent Events")
        serve(app, config)
        return 0
    runtime = app.server.extensions["linewatch"]
    runtime.ensure_started()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop like Ctrl+C: record what is left
    log.info("LineWatch on http://%s:%s%s (debug %s)", config.host, config.port, config.url_prefix,
             "on" if config.debug else "off")
    flask.cli.show_server_banner = lambda *args, **kwargs: None  # its lines bypass logging (not JSON); ours above
    # Debug (Werkzeug's debugger, Dash's dev tools) only with LINEWATCH_DEBUG=1: each dev tool
    # is set explicitly, so DASH_* or FLASK_DEBUG variables in the environment cannot turn one on.
    debug = config.debug
    try:
        app.run(host=config.host, port=config.port, debug=debug, use_reloader=False, load_dotenv=False,
                request_handler=QuietHandler,
                dev_tools_ui=debug, dev_tools_props_check=debug, dev_tools_serve_dev_bundles=debug,
                dev_tools_hot_reload=debug, dev_tools_prune_errors=debug)
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
