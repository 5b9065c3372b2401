"""Log lines as text or JSON (``LINEWATCH_LOG_FORMAT``), the same for ``python -m app`` and gunicorn.

JSON mode writes one object per line: ``time`` (UTC, ISO-8601 with ms), ``level``, ``logger``,
``message``, and, inside a request, ``method``, ``path``, ``remote_addr`` (the client once a
trusted proxy is honoured) and ``user`` (when viewer auth is on); an exception adds
``exception`` (the traceback, for the log only: clients never see it).  gunicorn's access
lines (when ``--access-logfile`` is given) carry ``status``, ``duration_ms`` and ``bytes`` too.

This module imports nothing from the app (gunicorn.conf.py loads it in the master process
without importing Dash).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_linewatch_handler"


def _request_fields() -> dict:
    flask = sys.modules.get("flask")  # no request context is possible before Flask is imported
    if flask is None or not flask.has_request_context():
        return {}
    request = flask.request
    fields = {"method": request.method, "path": request.path, "remote_addr": request.remote_addr}
    user = request.environ.get("linewatch.user")  # set by app/policy_wsgi.py
    if user:
        fields["user"] = user
    return fields


def _access_fields(atoms: Mapping) -> dict:
    """gunicorn.access passes its log atoms (a mapping) as the record's args."""
    fields = {"method": atoms.get("m"), "path": atoms.get("U"), "query": atoms.get("q") or None,
              "status": atoms.get("s"), "remote_addr": atoms.get("h"), "user_agent": atoms.get("a"),
              "bytes": atoms.get("B")}
    duration_us = atoms.get("D")
    if isinstance(duration_us, int):
        fields["duration_ms"] = round(duration_us / 1000, 3)
    status = fields["status"]
    if isinstance(status, str) and status.isdigit():
        fields["status"] = int(status)
    return {key: value for key, value in fields.items() if value not in (None, "-")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        else:
            entry.update(_request_fields())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(log_format: str, level: int = logging.INFO, stream=None) -> None:
    """Route every logger through one stderr handler in ``log_format``; safe to call twice."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per tick from the dev server
