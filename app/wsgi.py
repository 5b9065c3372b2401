"""WSGI entry point for gunicorn: ``gunicorn app.wsgi:server``."""

import os
import sys

from app import create_app
from app.config import Config, ConfigError

try:
    config = Config.from_env(os.environ)
except ConfigError as exc:
    sys.exit(f"linewatch: invalid configuration: {exc}")

server = create_app(config).server
