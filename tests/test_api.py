import io

import pandas as pd
import pytest


def test_healthz_is_its_own_route_not_the_dash_page(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_source_and_store(client, dash_app):
    detail = client.get("/readyz").get_json()
    assert detail["ready"] is True
    assert detail["source"]["kind"] == "simulator" and detail["source"]["state"] in ("starting", "running")
    assert detail["store"]["kind"] == "memory"


def test_readyz_is_503_when_the_source_failed(client, dash_app):
    from app.sources import SourceHealth

    client.get("/healthz")
    source = dash_app.server.extensions["linewatch"].source
    source.stop()
    source.health = lambda: SourceHealth("error", "sensor unplugged")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["source"]["message"] == "sensor unplugged"


def test_points_since_a_cursor(client, dash_app):
    store = dash_app.server.extensions["linewatch"].store
    client.get("/healthz")
    dash_app.server.extensions["linewatch"].source.stop()
    start = store.stats().next_seq
    store.append([1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [0.0, 0.5, 1.0])
    body = client.get(f"/api/v1/points?since={start}&limit=5").get_json()
    assert body["points"]["seq"] == [start + 1, start + 2]
    assert body["points"]["value"] == [0.2, 0.3] and body["cursor"] == start + 2


@pytest.mark.parametrize("query, message", [
    ("since=abc", "since must be a whole number"),
    ("limit=0", "limit must be between 1 and 10000"),
    ("limit=100000", "limit must be between 1 and 10000"),
])
def test_bad_queries_are_400_with_a_message(client, query, message):
    response = client.get(f"/api/v1/points?{query}")
    assert response.status_code == 400 and response.get_json() == {"error": message}


def test_alerts_as_json_and_csv(client, dash_app):
    runtime = dash_app.server.extensions["linewatch"]
    client.get("/healthz")
    runtime.source.stop()
    runtime.store.append([100.0, 200.0], [0.9, 0.9], [0.95, 0.99])
    runtime.recorder.flush()
    alerts = client.get("/api/v1/alerts?from=150&to=250").get_json()["alerts"]
    assert [a["ts"] for a in alerts] == [200.0]
    assert client.get("/api/v1/alerts?from=soon").status_code == 400
    csv = client.get("/api/v1/alerts.csv?from=50&to=250")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)))
    assert frame["ts"].tolist() == [200.0, 100.0]


def test_history_exports_a_time_range_as_csv_and_parquet(client, dash_app):
    runtime = dash_app.server.extensions["linewatch"]
    client.get("/healthz")
    runtime.source.stop()
    runtime.stores.get("line-9").append([100.0, 200.0, 300.0], [0.1, 0.2, 0.3], [0.0, 0.5, 1.0])
    runtime.recorder.flush()
    csv = client.get("/api/v1/points.csv?line=line-9&from=150&to=350")
    assert csv.headers["Content-Disposition"] == 'attachment; filename="linewatch-line-9.csv"'

    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)))
    assert frame.columns.tolist() == ["time_utc", "seq", "ts", "value", "prob"]
    assert frame["value"].tolist() == [0.2, 0.3] and frame["time_utc"][0] == "1970-01-01T00:03:20.000000Z"
    parquet = client.get("/api/v1/points.parquet?line=line-9")
    table = pd.read_parquet(io.BytesIO(parquet.get_data()))
    assert table["seq"].tolist() == [0, 1, 2] and str(table["time_utc"].dt.tz) == "UTC"
    assert client.get("/api/v1/points.csv?line=bad line").status_code == 400
