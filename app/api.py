"""HTTP endpoints beside the dashboard: health, readiness, points and alerts (JSON, CSV)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.recorder import alerts_csv

MAX_LIMIT = 10_000


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
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be epoch seconds") from None


def create_api(runtime) -> Blueprint:
    api = Blueprint("linewatch_api", __name__)

    @api.errorhandler(BadRequest)
    def bad_request(exc):
        return jsonify(error=str(exc)), 400

    @api.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @api.get("/readyz")
    def readyz():
        detail = runtime.readiness()
        return jsonify(detail), 200 if detail["ready"] else 503

    @api.get("/api/v1/points")
    def points():
        since = _int_arg("since", -1, -1, 2**62)
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        batch = runtime.store.since(since, limit)
        cursor = int(batch.seq[-1]) if len(batch) else since
        return jsonify(cursor=cursor, points=batch.to_columns())

    def _alerts() -> list[dict]:
        limit = _int_arg("limit", 1000, 1, MAX_LIMIT)
        return runtime.recorder.alerts(_float_arg("from"), _float_arg("to"), limit)

    @api.get("/api/v1/alerts")
    def alerts():
        return jsonify(alerts=_alerts())

    @api.get("/api/v1/alerts.csv")
    def alerts_as_csv():
        return Response(alerts_csv(_alerts()), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=linewatch-alerts.csv"})

    return api
