"""HTTP endpoints beside the dashboard: health, readiness, ingest, points, alerts, alarms and lines."""

from __future__ import annotations

import hmac
import io
import json
import math
import re
import time

import pandas as pd
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.backpressure import Overloaded
from app.readings import LINE_ID, InvalidPoint, validate_points
from app.points import DEFAULT_LINE
from app.recorder import HistoryUnavailable, alerts_csv
from app.store import StoreUnavailable

MAX_LIMIT = 10_000
MAX_POINTS_PER_REQUEST = 10_000
MAX_EXPORT_ROWS = 1_000_000
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class BadRequest(ValueError):
    """A query parameter is invalid; the message says which and why."""


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _float_arg(name: str) -> float | None:
    """A time bound in epoch seconds, or None when not given (0 is a bound: the epoch)."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be epoch seconds")
    return value


def _line_arg() -> str:
    line = request.args.get("line", DEFAULT_LINE)
    if not LINE_ID.fullmatch(line):
        raise BadRequest("line must be 1-64 letters, digits or _.:-")
    return line


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header (1-255 visible ASCII characters), if it has one."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-255 visible ASCII characters (e.g. a UUID)")
    return key


def _error(status: int, message: str, **extra):
    return jsonify(error=message, **extra), status


def _authorized(token: str) -> bool:
    scheme, _, provided = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(provided.strip().encode(), token.encode())


def _json_body():
    """The decoded JSON body (the HTTP policy has refused one over 1 MiB), or an error response tuple."""
    if not request.is_json:
        return _error(415, "send JSON with Content-Type: application/json")
    body = request.get_data()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not valid JSON: {exc}")
    except RecursionError:
        return _error(400, "body is not valid JSON: nested too deeply")


def _download(body: bytes | str, mimetype: str, filename: str) -> Response:
    """An attachment; ``filename`` is quoted (RFC 6266) and made of line-id characters only."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _allowed_methods() -> list[str]:
    """The methods the request's path has an endpoint for (other than the catch-all answering it)."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in [*ANY_METHOD, "OPTIONS"]:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    return allowed


def _not_allowed(allowed) -> tuple:
    """405 JSON naming the methods the path has, in ``Allow``."""
    methods = ", ".join(sorted(allowed))
    return jsonify(error=f"{request.method} is not allowed on {request.path}: use {methods}"), 405, {"Allow": methods}


def create_api(runtime) -> Blueprint:
    api = Blueprint("linewatch_api", __name__)

    @api.after_request
    def no_store(response):
        """Live figures and exports: never kept by a browser or proxy cache."""
        response.headers["Cache-Control"] = "no-store"
        return response

    @api.app_errorhandler(MethodNotAllowed)
    def method_not_allowed(exc):
        """A path of the app outside /api/ (``/healthz``, ``/readyz``, the page) asked with a method it has not."""
        return _not_allowed(exc.valid_methods or ())

    @api.errorhandler(BadRequest)
    def bad_request(exc):
        return jsonify(error=str(exc)), 400

    @api.errorhandler(StoreUnavailable)
    def store_unavailable(exc):
        """Redis away (STORE=redis): a short answer, no stack trace; the store logs the outage once."""
        return jsonify(error=f"store unavailable: {exc}"), 503, {"Retry-After": "1"}

    @api.errorhandler(Overloaded)
    def overloaded(exc):
        """Back-pressure (app/backpressure.py): the readings cannot be taken now; nothing was stored."""
        return jsonify(error=str(exc)), 503, {"Retry-After": str(exc.retry_after_s)}

    @api.errorhandler(HistoryUnavailable)
    def history_unavailable(exc):
        """The data dir refuses writes (full, read-only, broken): nothing was stored; retry later."""
        return jsonify(error=str(exc)), 503, {"Retry-After": "5"}

    @api.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @api.get("/readyz")
    def readyz():
        detail = runtime.readiness()
        return jsonify(detail), 200 if detail["ready"] else 503

    @api.post("/api/v1/points")
    def ingest_points():
        """One point or a list; all stored (and on disk) or none, with the first error named.

        With an ``Idempotency-Key`` already recorded (24 h), nothing is stored: the first answer again.
        """
        token = runtime.config.ingest_token
        if token and not _authorized(token):
            response = jsonify(error="a valid bearer token is required (Authorization: Bearer ...)")
            return response, 401, {"WWW-Authenticate": 'Bearer realm="linewatch-ingest"'}
        key = _idempotency_key()
        payload = _json_body()
        if isinstance(payload, tuple):
            return payload
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > MAX_POINTS_PER_REQUEST:
            return _error(413, f"at most {MAX_POINTS_PER_REQUEST} points per request, got {len(items)}")
        if not items:
            return _error(400, "no points in the request")
        try:
            readings = validate_points(items, time.time(), runtime.config.retention_days)
        except InvalidPoint as exc:
            runtime.ingestor.count_rejected(len(items))
            return jsonify(exc.to_dict()), 400
        seqs = runtime.ingestor.ingest(readings, durable=True, keys=(key,) if key else ())
        return jsonify(accepted=sum(map(len, seqs.values())),
                       seqs={line: [ids[0], ids[-1]] for line, ids in seqs.items()}), 201

    @api.get("/api/v1/points")
    def points():
        since = _int_arg("since", -1, -1, 2**62)
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        store = runtime.stores.find(_line_arg())
        batch = store.since(since, limit) if store else None
        if not batch:
            return jsonify(cursor=since, points={"seq": [], "ts": [], "value": [], "prob": []})
        return jsonify(cursor=int(batch.seq[-1]), points=batch.to_columns())

    def _history(line: str):
        limit = _int_arg("limit", MAX_EXPORT_ROWS, 1, MAX_EXPORT_ROWS)
        frame = runtime.recorder.history(line, _float_arg("from"), _float_arg("to"), limit)
        frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True))
        return frame

    @api.get("/api/v1/points.csv")
    def points_as_csv():
        line = _line_arg()
        frame = _history(line)
        frame["time_utc"] = frame["time_utc"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return _download(frame.to_csv(index=False), "text/csv", f"linewatch-{line}.csv")

    @api.get("/api/v1/points.parquet")
    def points_as_parquet():
        line = _line_arg()
        buffer = io.BytesIO()
        _history(line).to_parquet(buffer, index=False)
        return _download(buffer.getvalue(), "application/vnd.apache.parquet", f"linewatch-{line}.parquet")

    def _alerts() -> list[dict]:
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        return runtime.recorder.alerts(_float_arg("from"), _float_arg("to"), limit)

    @api.get("/api/v1/alerts")
    def alerts():
        return jsonify(alerts=_alerts())

    @api.get("/api/v1/alerts.csv")
    def alerts_as_csv():
        return _download(alerts_csv(_alerts()), "text/csv", "linewatch-alerts.csv")

    @api.get("/api/v1/alarms")
    def alarms():
        """Alarms raised in a time range (of the reading that raised each), oldest first; every line without ``line``."""
        line = _line_arg() if "line" in request.args else None
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        return jsonify(alarms=runtime.recorder.alarms(line, _float_arg("from"), _float_arg("to"), limit))

    @api.get("/api/v1/lines")
    def lines():
        """The lines of the lines file and those readings arrived for, with their unit and limits."""
        config = runtime.config
        seen = {line: store.stats().count for line, store in runtime.stores.items()}
        ids = [spec.id for spec in config.lines] + sorted(set(seen) - {spec.id for spec in config.lines})
        return jsonify(lines=[{**config.line(line).to_dict(), "points": seen.get(line, 0)} for line in ids])

    @api.route("/api/", defaults={"rest": ""}, methods=ANY_METHOD)
    @api.route("/api/<path:rest>", methods=ANY_METHOD)
    def unknown(rest):
        """Any other API path: a JSON 404 (not the dashboard page, Dash's answer to every unknown GET);
        another method on a known path: a JSON 405 with the methods it has in ``Allow``."""
        allowed = _allowed_methods()
        if allowed:
            return _not_allowed(allowed)
        return _error(404, f"no such API endpoint: {request.method} /api/{rest}")

    return api
