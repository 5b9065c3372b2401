"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py app.wsgi:server`` (the Procfile)."""

import os
import sys

from app.web import create_app
from app.config import ASGI_TRANSPORTS, Config, ConfigError
from app.logs import setup_logging

try:
    config = Config.from_env(os.environ)
    if config.transport in ASGI_TRANSPORTS:
        sys.exit(f"linewatch: LINEWATCH_TRANSPORT={config.transport} is served by app.asgi:application "
                 "(gunicorn -c gunicorn.conf.py -k uvicorn.workers.UvicornWorker app.asgi:application)")
    setup_logging(config.log_format)  # the app's lines; gunicorn.conf.py formats gunicorn's own alike
    server = create_app(config).server
except ConfigError as exc:
    sys.exit(f"linewatch: invalid configuration: {exc}")
