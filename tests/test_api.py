import io
import time

import pandas as pd
import pytest

from app.alarms import AlarmDraft
from app.config import Config
from app.web import create_app
from tests.helpers.auth import basic_auth


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


# --- the alarm book's endpoints ---------------------------------------------------------------

@pytest.fixture
def make_alarm_app(tmp_path):
    """An app with the HTTP source (no simulated alarms) and extra settings; stopped afterwards."""
    made = []

    def make(**env):
        config = Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data"),
                                  **{f"LINEWATCH_{key.upper()}": str(value) for key, value in env.items()}})
        made.append(create_app(config))
        return made[-1]
    yield make
    for app in made:
        app.server.extensions["linewatch"].stop()


def raise_alarms(app, *drafts):
    """Book raises as the ingest does: ``(line, seq, ts, rule)`` each."""
    book = app.server.extensions["linewatch"].alarm_book
    book.raised([AlarmDraft(0, line, ts, rule, "warning", 91.5, "value 91.5 is anomalous").raised(seq)
                 for line, seq, ts, rule in drafts])
    return book


def test_an_alarm_of_the_api_carries_its_message_template_so_the_range_chart_words_it_in_the_pages_language(
        make_alarm_app):
    from app.detectors.messages import render
    from app.i18n import labels

    app = make_alarm_app()
    message = render("alarm_usl", value="9.5", limit="9.0")
    app.server.extensions["linewatch"].alarm_book.raised([AlarmDraft(0, "oven", 100.0, "usl", "critical", 9.5,
                                                                     message).raised(3)])
    [alarm] = app.server.test_client().get("/api/v1/alarms").get_json()["alarms"]
    assert (alarm["message"], alarm["key"], alarm["figures"]) == (message, "alarm_usl", {"value": "9.5", "limit": "9.0"})
    assert "9.5" in labels("zh")["alarm_usl"].format(**alarm["figures"]) != message


def test_alarms_are_listed_filtered_acknowledged_shelved_and_unshelved_with_their_journal(make_alarm_app):
    app = make_alarm_app()
    client = app.server.test_client()
    raise_alarms(app, ("oven", 7, 100.0, "score"), ("press", 9, 200.0, "we-1"))
    listed = client.get("/api/v1/alarms").get_json()["alarms"]
    assert [(a["id"], a["seq"], a["state"], a["priority"], a["count"]) for a in listed] == [
        ("oven/7/score", 7, "unacknowledged", 3, 1), ("press/9/we-1", 9, "unacknowledged", 3, 1)]

    acked = client.post("/api/v1/alarms/oven/7/score/ack", json={"comment": "checking the oven"})
    assert acked.status_code == 200 and acked.get_json()["alarm"]["acknowledged_by"] == "anonymous"
    again = client.post("/api/v1/alarms/oven/7/score/ack")
    assert again.status_code == 409 and "acknowledged" in again.get_json()["error"]
    shelved = client.post("/api/v1/alarms/press/9/we-1/shelve", json={"minutes": 30, "reason": "sensor swap"})
    assert shelved.status_code == 200 and shelved.get_json()["alarm"]["state"] == "shelved"
    assert [a["id"] for a in client.get("/api/v1/alarms?state=shelved").get_json()["alarms"]] == ["press/9/we-1"]
    assert [a["id"] for a in client.get("/api/v1/alarms?state=unacknowledged").get_json()["alarms"]] == []
    assert [a["id"] for a in client.get("/api/v1/alarms?line=oven&from=50&to=150").get_json()["alarms"]] == [
        "oven/7/score"]
    assert client.post("/api/v1/alarms/press/9/we-1/unshelve").get_json()["alarm"]["state"] == "unacknowledged"

    detail = client.get("/api/v1/alarms/press/9/we-1").get_json()
    assert detail["alarm"]["id"] == "press/9/we-1"
    assert [(e["action"], e["user"], e["comment"]) for e in detail["journal"]] == [
        ("raise", "", "value 91.5 is anomalous"), ("shelve", "anonymous", "sensor swap"),
        ("unshelve", "anonymous", "")]


@pytest.mark.parametrize("method, path, body, status, error", [
    ("get", "/api/v1/alarms/oven/999/score", None, 404, "no alarm has the id oven/999/score"),
    ("post", "/api/v1/alarms/oven/999/score/ack", None, 404, "no alarm has the id oven/999/score"),
    ("post", "/api/v1/alarms/oven/7/score/unshelve", None, 409, "alarm oven/7/score is unacknowledged, not shelved"),
    ("post", "/api/v1/alarms/oven/7/score/shelve", {"minutes": 481, "reason": "x"}, 400,
     "minutes must be above 0 and at most 480"),
    ("post", "/api/v1/alarms/oven/7/score/shelve", {"minutes": "ten", "reason": "x"}, 400, "minutes must be a number"),
    ("post", "/api/v1/alarms/oven/7/score/shelve", {"minutes": 10}, 400, "reason is required"),
    ("post", "/api/v1/alarms/oven/7/score/ack", [], 400, "body must be a JSON object"),
    ("post", "/api/v1/alarms/oven/7/score/ack", {"comment": 5}, 400, "comment must be text"),
    ("get", "/api/v1/alarms?state=loud", None, 400, "state must be one of active, unacknowledged, shelved, open, all"),
    ("get", "/api/v1/alarms/figures?hours=0", None, 400, "hours must be above 0 and at most 744"),
    ("get", "/api/v1/alarms/figures?from=5", None, 400, "from and to go together (epoch seconds of reading time)"),
    ("get", "/api/v1/alarms/figures?from=5&to=5", None, 400, "from must be before to"),
    ("delete", "/api/v1/alarms/oven/7/score", None, 405,
     "DELETE is not allowed on /api/v1/alarms/oven/7/score: use GET, HEAD, OPTIONS"),
])
def test_alarm_requests_that_cannot_be_served_say_why(make_alarm_app, method, path, body, status, error):
    app = make_alarm_app()
    raise_alarms(app, ("oven", 7, 100.0, "score"))
    response = getattr(app.server.test_client(), method)(path, json=body)
    assert (response.status_code, response.get_json()) == (status, {"error": error})


def test_only_operators_act_on_alarms_and_acting_needs_credentials_like_viewing(make_alarm_app, users_file):
    app = make_alarm_app(auth="basic", auth_users_file=users_file, alarm_operators="bob")
    raise_alarms(app, ("oven", 7, 100.0, "score"))
    client = app.server.test_client()
    assert client.post("/api/v1/alarms/oven/7/score/ack").status_code == 401
    alice = {"Authorization": basic_auth("alice", "s3cret")}
    assert client.get("/api/v1/alarms/oven/7/score", headers=alice).status_code == 200  # she may view ...
    refused = client.post("/api/v1/alarms/oven/7/score/ack", headers=alice)  # ... but not act
    assert refused.status_code == 403 and "LINEWATCH_ALARM_OPERATORS" in refused.get_json()["error"]
    assert client.get("/api/v1/alarms/oven/7/score", headers=alice).get_json()["alarm"]["state"] == "unacknowledged"


def test_alarm_figures_and_the_csv_export_of_alarms_with_their_journal(make_alarm_app):
    app = make_alarm_app()
    now = time.time()
    book = raise_alarms(app, ("oven", 7, now - 60, "score"), ("oven", 8, now - 30, "we-1"))
    client = app.server.test_client()
    client.post("/api/v1/alarms/oven/7/score/ack", json={"comment": "=HYPERLINK(\"http://x\")"})
    figures = client.get("/api/v1/alarms/figures?hours=1").get_json()
    assert figures["announced"] == 2 and figures["bad_actors"][0]["line"] == "oven"
    assert client.get("/api/v1/alarms/figures").get_json()["period_s"] == 24 * 3600
    one_line = client.get(f"/api/v1/alarms/figures?line=oven&from={now - 45:.0f}&to={now:.0f}").get_json()
    assert one_line["announced"] == 1 and one_line["bad_actors"][0]["rule"] == "we-1"
    assert client.get(f"/api/v1/alarms/figures?line=press&from=0&to={now:.0f}").get_json()["announced"] == 0

    csv = client.get("/api/v1/alarms.csv?line=oven")
    assert csv.headers["Content-Disposition"] == 'attachment; filename="linewatch-alarm-journal.csv"'
    assert csv.mimetype == "text/csv" and csv.headers["Cache-Control"] == "no-store"
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), keep_default_na=False)
    assert frame[["alarm_id", "action", "user", "alarm_state"]].values.tolist() == [
        ["oven/7/score", "raise", "", "acknowledged"], ["oven/7/score", "acknowledge", "anonymous", "acknowledged"],
        ["oven/8/we-1", "raise", "", "unacknowledged"]]
    assert frame["comment"][1] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it
    assert book.get("oven/7/score")[0].acknowledged_by == "anonymous"
