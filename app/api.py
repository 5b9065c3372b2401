"""HTTP endpoints beside the dashboard: health, readiness, ingest, points, alerts, alarms and lines."""

from __future__ import annotations

import hmac
import json
import math
import re
import time

import pandas as pd
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.alarm_book import QUERY_STATES, LedgerUnavailable, UnknownAlarm
from app.alarm_export import alarms_csv
from app.alarm_lifecycle import ImpossibleTransition
from app.alarms import seq_of
from app.detectors.messages import template_fields
from app.policy import NotAnOperator, alarm_actor
from app.backpressure import Overloaded
from app.readings import LINE_ID, InvalidPoint, validate_points
from app.points import DEFAULT_LINE
from app.history import export
from app.history.ranges import MAX_POINTS_DEFAULT, MAX_POINTS_RANGE
from app.recorder import HistoryUnavailable, alerts_csv
from app.store import StoreUnavailable

MAX_LIMIT = 10_000
MAX_POINTS_PER_REQUEST = 10_000
MAX_EXPORT_ROWS = 100_000_000  # exports stream in chunks: a month at 10 readings/s is 26 million
MAX_COMMENT_CHARS = 1000
MAX_FIGURES_HOURS = 31 * 24
DEFAULT_RANGE_S = 3600.0  # range mode without ``from``: the hour before ``to`` (without ``to``: now)
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


def _download(body, mimetype: str, filename: str) -> Response:
    """An attachment; ``filename`` is quoted (RFC 6266) and made of line-id characters only."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _alarm_json(record) -> dict:
    """An alarm book record as the API shows it: the lifecycle's fields, the raising reading's ``seq`` and
    the message's template key and figures when the detectors wrote it (the range chart words it in the
    page's language)."""
    return {**record.to_dict(), "seq": seq_of(record.id), **template_fields(record.message)}


def _alarm_query(book) -> list:
    """The alarms the query string asks for (line, state, from, to, limit), oldest first."""
    line = _line_arg() if "line" in request.args else None
    state = request.args.get("state", "all")
    if state not in QUERY_STATES:
        raise BadRequest(f"state must be one of {', '.join(QUERY_STATES)}")
    limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
    return book.query(line, state, _float_arg("from"), _float_arg("to"), limit)


def _action_body() -> dict:
    """The JSON object of an alarm action (no body: an empty one)."""
    if not request.get_data():
        return {}
    if not request.is_json:
        raise BadRequest("send JSON with Content-Type: application/json")
    try:
        body = json.loads(request.get_data())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _text_field(body: dict, name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    if required and not value.strip():
        raise BadRequest(f"{name} is required")
    if len(value) > MAX_COMMENT_CHARS:
        raise BadRequest(f"{name} must be at most {MAX_COMMENT_CHARS} characters")
    return value.strip()


def register_alarms(api: Blueprint, runtime) -> None:
    """The alarm book's endpoints (app/alarm_book.py): query, one alarm with its journal, acknowledge,
    shelve, unshelve, EEMUA figures and the CSV export."""
    book = runtime.alarm_book

    @api.errorhandler(UnknownAlarm)
    def unknown_alarm(exc):
        return jsonify(error=f"no alarm has the id {exc.args[0]}"), 404

    @api.errorhandler(ImpossibleTransition)
    def impossible(exc):
        return jsonify(error=str(exc)), 409

    @api.errorhandler(NotAnOperator)
    def not_an_operator(exc):
        return jsonify(error=str(exc)), 403

    @api.errorhandler(LedgerUnavailable)
    def ledger_unavailable(exc):
        """The disk or Redis refuses: nothing changed; retry later."""
        return jsonify(error=str(exc)), 503, {"Retry-After": "5"}

    @api.get("/api/v1/alarms")
    def alarms():
        """Alarms (one per raise of a (line, rule) until it is back to normal) first raised in a time
        range of reading times, oldest first; every line without ``line``; ``state`` filters."""
        return jsonify(alarms=[_alarm_json(record) for record in _alarm_query(book)])

    @api.get("/api/v1/alarms.csv")
    def alarms_as_csv():
        records = _alarm_query(book)
        journal = book.ledger.journal(*(record.id for record in records))
        return _download(alarms_csv(records, journal), "text/csv", "linewatch-alarm-journal.csv")

    @api.get("/api/v1/alarms/figures")
    def alarm_figures():
        """EEMUA 191 figures of the last ``hours`` (default 24), or of reading times ``from``..``to``,
        for ``operators`` (default 1), of one ``line`` or every line."""
        since, until = _float_arg("from"), _float_arg("to")
        if (since is None) != (until is None):
            raise BadRequest("from and to go together (epoch seconds of reading time)")
        if since is None:
            hours = _float_arg("hours")
            hours = 24.0 if hours is None else hours
            if not 0 < hours <= MAX_FIGURES_HOURS:
                raise BadRequest(f"hours must be above 0 and at most {MAX_FIGURES_HOURS}")
            until = book.clock()
            since = until - hours * 3600
        elif not since < until:
            raise BadRequest("from must be before to")
        operators = _int_arg("operators", 1, 1, 1000)
        return jsonify(book.figures(since, until, operators, request.args.get("line") or None).to_dict())

    @api.get("/api/v1/alarms/<path:alarm_id>")
    def alarm(alarm_id):
        record, journal = book.get(alarm_id)
        return jsonify(alarm=_alarm_json(record), journal=[entry._asdict() for entry in journal])

    @api.post("/api/v1/alarms/<path:alarm_id>/ack")
    def acknowledge(alarm_id):
        user = alarm_actor(runtime.config, request.environ)
        comment = _text_field(_action_body(), "comment")
        return jsonify(alarm=_alarm_json(book.acknowledge(alarm_id, user, comment).record))

    @api.post("/api/v1/alarms/<path:alarm_id>/shelve")
    def shelve(alarm_id):
        user = alarm_actor(runtime.config, request.environ)
        body = _action_body()
        reason = _text_field(body, "reason", required=True)
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
            raise BadRequest("minutes must be a number")
        try:
            step = book.shelve(alarm_id, user, reason, minutes)
        except (UnknownAlarm, ImpossibleTransition):
            raise
        except ValueError as exc:  # the duration is out of range
            raise BadRequest(str(exc)) from None
        return jsonify(alarm=_alarm_json(step.record))

    @api.post("/api/v1/alarms/<path:alarm_id>/unshelve")
    def unshelve(alarm_id):
        user = alarm_actor(runtime.config, request.environ)
        return jsonify(alarm=_alarm_json(book.unshelve(alarm_id, user).record))


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
        """The history refuses writes (full, read-only, broken: nothing was stored) or cannot be read; retry later."""
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
        """Range mode (``from`` or ``to``): the history of ``line`` at most ``max_points`` readings, no
        spike lost; else cursor mode: what the store holds after ``since``, at most ``limit``."""
        if "from" in request.args or "to" in request.args:
            return points_range()
        since = _int_arg("since", -1, -1, 2**62)
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        store = runtime.stores.find(_line_arg())
        batch = store.since(since, limit) if store else None
        if not batch:
            return jsonify(cursor=since, points={"seq": [], "ts": [], "value": [], "prob": []})
        return jsonify(cursor=int(batch.seq[-1]), points=batch.to_columns())

    def points_range():
        line = _line_arg()
        start, end = _float_arg("from"), _float_arg("to")
        max_points = _int_arg("max_points", MAX_POINTS_DEFAULT, *MAX_POINTS_RANGE)
        end = time.time() if end is None else end
        start = end - DEFAULT_RANGE_S if start is None else start
        if start > end:
            raise BadRequest("from must not be after to")
        return jsonify(runtime.history.points_range(line, start, end, max_points).to_dict())

    def _history(line: str):
        """The range's recorded points as frames with a UTC time column, read chunk by chunk."""
        limit = _int_arg("limit", MAX_EXPORT_ROWS, 1, MAX_EXPORT_ROWS)
        for frame in runtime.history.history(line, _float_arg("from"), _float_arg("to"), limit):
            frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True))
            yield frame

    @api.get("/api/v1/points.csv")
    def points_as_csv():
        line = _line_arg()
        return _download(export.csv_chunks(_history(line)), "text/csv", f"linewatch-{line}.csv")

    @api.get("/api/v1/points.parquet")
    def points_as_parquet():
        line = _line_arg()
        return _download(export.parquet_chunks(_history(line)), "application/vnd.apache.parquet",
                         f"linewatch-{line}.parquet")

    def _alerts() -> list[dict]:
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        return runtime.recorder.alerts(_float_arg("from"), _float_arg("to"), limit)

    @api.get("/api/v1/alerts")
    def alerts():
        return jsonify(alerts=_alerts())

    @api.get("/api/v1/alerts.csv")
    def alerts_as_csv():
        return _download(alerts_csv(_alerts()), "text/csv", "linewatch-alerts.csv")

    register_alarms(api, runtime)

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
