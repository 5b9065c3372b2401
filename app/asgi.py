"""ASGI entry point for the WebSocket and push transports (``LINEWATCH_TRANSPORT=websocket`` or ``push``, the
``websocket`` extra):

    gunicorn -c gunicorn.conf.py -k uvicorn.workers.UvicornWorker app.asgi:application --bind 0.0.0.0:8050

Dash on its FastAPI backend with WebSocket callbacks (or, pushing, HTTP callbacks and a
Server-Sent Events stream), the HTTP API beside it (app/websocket.py).
"""

import os
import sys

from app.web import create_app
from app.config import Config, ConfigError
from app.logs import setup_logging
from app.websocket import asgi_app

if os.environ.get("LINEWATCH_TRANSPORT", "").strip() == "polling":
    sys.exit("linewatch: LINEWATCH_TRANSPORT=polling is served by app.wsgi:server (gunicorn's gthread worker); "
             "app.asgi:application serves LINEWATCH_TRANSPORT=websocket or push")
try:
    pushing = os.environ.get("LINEWATCH_TRANSPORT", "").strip() == "push"
    config = Config.from_env({**os.environ, "LINEWATCH_TRANSPORT": "push" if pushing else "websocket"})
    setup_logging(config.log_format)
    application = asgi_app(create_app(config))
except ConfigError as exc:
    sys.exit(f"linewatch: invalid configuration: {exc}")
