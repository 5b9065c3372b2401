"""ASGI entry point for the WebSocket transport (``LINEWATCH_TRANSPORT=websocket``, the ``websocket`` extra):

    gunicorn -c gunicorn.conf.py -k uvicorn.workers.UvicornWorker app.asgi:application --bind 0.0.0.0:8050

Dash on its FastAPI backend with WebSocket callbacks, the HTTP API beside it (app/websocket.py).
"""

import os
import sys

from app.web import create_app
from app.config import Config, ConfigError
from app.logs import setup_logging
from app.websocket import asgi_app

if os.environ.get("LINEWATCH_TRANSPORT", "").strip() == "polling":
    sys.exit("linewatch: LINEWATCH_TRANSPORT=polling is served by app.wsgi:server (gunicorn's gthread worker); "
             "app.asgi:application serves LINEWATCH_TRANSPORT=websocket")
try:
    config = Config.from_env({**os.environ, "LINEWATCH_TRANSPORT": "websocket"})  # what this entry point serves
    setup_logging(config.log_format)
    application = asgi_app(create_app(config))
except ConfigError as exc:
    sys.exit(f"linewatch: invalid configuration: {exc}")
