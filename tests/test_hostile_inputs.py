"""Hostile inputs (the reliability issue): every one gets a 4xx with a reason, or works; never a 500."""

from __future__ import annotations

import json
import logging
import urllib.request

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.security import generate_password_hash

from app.config import Config, ConfigError
from app.lines import LinesFileError, load_lines
from app.policy import Policy
from app.sources.replay import read_recording
from app.web import create_app
from tests.helpers.auth import basic_auth
from tests.helpers.ticks import tick_request


@pytest.fixture
def config(tmp_path):
    """Overrides tests/conftest.py's: points arrive only by POST (no simulator)."""
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


# --- line ids: the whole string, not up to a final newline ------------------------------------

def test_a_line_id_with_a_trailing_newline_is_refused_everywhere(client, tmp_path):
    posted = client.post("/api/v1/points", json=[{"value": 1.0, "line": "line-1\n"}])
    assert posted.status_code == 400 and posted.get_json()["field"] == "line"
    for path in ("/api/v1/points", "/api/v1/points.csv", "/api/v1/alarms"):
        assert client.get(path, query_string={"line": "line-1\n"}).status_code == 400, path
    lines_file = tmp_path / "lines.toml"
    lines_file.write_text('[lines."oven-3\\n"]\nunit = "°C"\n', encoding="utf-8")
    with pytest.raises(LinesFileError, match="a line id is") as refused:
        load_lines(lines_file)
    assert str(refused.value).startswith('[lines."oven-3\\n"]: ') and "\n" not in str(refused.value)


# --- bodies that broke the parser or the number conversion ---------------------------------------

def test_json_nested_thousands_deep_is_400(client):
    response = client.post("/api/v1/points", data="[" * 3000 + "]" * 3000, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["error"]


@pytest.mark.parametrize("field", ["value", "ts", "defect_prob"])
def test_an_integer_of_400_digits_is_400_naming_point_and_field(client, field):
    point = {"value": 1.0, field: int("9" * 400)}
    response = client.post("/api/v1/points", json=[{"value": 2.0}, point])
    assert response.status_code == 400
    assert response.get_json() == {"error": f"point 1: {field} must be a finite number", "index": 1, "field": field}


# --- time bounds --------------------------------------------------------------------------------

QUERIED = ("/api/v1/points.csv", "/api/v1/points.parquet", "/api/v1/alerts", "/api/v1/alerts.csv", "/api/v1/alarms")


@pytest.mark.parametrize("path", QUERIED)
@pytest.mark.parametrize("name, value", [("from", "NaN"), ("from", "inf"), ("to", "-inf"), ("to", "nan"),
                                         ("from", "1e400")])
def test_a_time_bound_that_is_not_a_finite_number_is_400_naming_it(client, path, name, value):
    response = client.get(path, query_string={name: value})
    assert response.status_code == 400 and response.get_json() == {"error": f"{name} must be epoch seconds"}


def test_to_zero_means_until_the_epoch_not_no_bound(client, dash_app):
    client.post("/api/v1/points", json=[{"value": 0.99, "defect_prob": 0.99}])
    dash_app.server.extensions["linewatch"].recorder.flush()
    assert len(client.get("/api/v1/alerts").get_json()["alerts"]) == 1
    assert client.get("/api/v1/alerts?to=0").get_json()["alerts"] == []
    history = client.get("/api/v1/points.csv?to=0").get_data(as_text=True)
    assert history.strip() == "time_utc,seq,ts,value,prob"


# --- the users file -----------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["alice:foo$bar$baz", "alice:scrypt:3:8:1$salt$00ff", "alice:pbkdf2:nope$salt$00ff",
                                   "alice:scrypt$salt$not-hex"])
def test_a_users_file_hash_no_login_could_check_stops_start_up_naming_file_and_line(tmp_path, entry):
    users = tmp_path / "users.txt"
    users.write_text(f"# viewers\n{entry}\n")
    config = Config.from_env({"LINEWATCH_AUTH": "basic", "LINEWATCH_AUTH_USERS_FILE": str(users)})
    with pytest.raises(ConfigError) as refused:
        Policy(config, list, {}, lambda line: True)
    message = str(refused.value)
    assert str(users) in message and "line 2 is not user:hash" in message and "\n" not in message


# --- replay files ---------------------------------------------------------------------------------

def test_replay_line_ids_that_look_like_numbers_are_names(tmp_path):
    csv = tmp_path / "lines.csv"
    csv.write_text("ts,value,Line\n1,0.5,1\n2,0.6,2\n3,0.7,007\n4,0.8,\n")
    assert read_recording(csv, 1e9).line == ["1", "2", "007", "line-1"]
    parquet = tmp_path / "lines.parquet"
    pd.DataFrame({"value": [0.5, 0.6], "line": [1, 2]}).to_parquet(parquet)
    assert read_recording(parquet, 1e9).line == ["1", "2"]
    mapped = tmp_path / "anlage.csv"  # a line column the lines file maps ([replay.columns] line = "Anlage")
    mapped.write_text("Wert,Anlage\n0.5,1\n0.6,02\n")
    assert read_recording(mapped, 1e9, {"value": "Wert", "line": "Anlage"}).line == ["1", "02"]


# --- who may write --------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", [{"LINEWATCH_AUTH": "header", "LINEWATCH_TRUSTED_PROXIES": "1"},
                                  {"LINEWATCH_AUTH": "basic"}])
def test_writing_needs_credentials_whenever_viewing_does(tmp_path, auth):
    users = tmp_path / "users.txt"
    users.write_text("alice:" + generate_password_hash("s3cret") + "\n")
    env = {"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http",
           "LINEWATCH_AUTH_USERS_FILE": str(users), **auth}
    signed_in = ({"X-Forwarded-User": "alice"} if auth["LINEWATCH_AUTH"] == "header"
                 else {"Authorization": basic_auth("alice", "s3cret")})
    for token, allowed in ((None, signed_in), ("t0ken", {"Authorization": "Bearer t0ken"})):
        dash_app = create_app(Config.from_env({**env, **({"LINEWATCH_INGEST_TOKEN": token} if token else {})}))
        try:
            client = dash_app.server.test_client()
            assert client.post("/api/v1/points", json=[{"value": 0.5}]).status_code == 401, token
            assert client.post("/api/v1/points", json=[{"value": 0.5}], headers=allowed).status_code == 201, token
        finally:
            dash_app.server.extensions["linewatch"].stop()


# --- HTTP hygiene ---------------------------------------------------------------------------------

def test_download_filenames_are_quoted_and_a_line_id_cannot_break_the_header(client):
    for path, name in (("/api/v1/points.csv?line=oven-3", "linewatch-oven-3.csv"),
                       ("/api/v1/points.parquet?line=a.b:c_d", "linewatch-a.b:c_d.parquet"),
                       ("/api/v1/alerts.csv", "linewatch-alerts.csv")):
        assert client.get(path).headers["Content-Disposition"] == f'attachment; filename="{name}"'
    for line in ('x"; filename="evil.exe', "x\r\nSet-Cookie: a=b", "x;y"):
        response = client.get("/api/v1/points.csv", query_string={"line": line})
        assert response.status_code == 400 and "Content-Disposition" not in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/points", "/api/v1/points.csv", "/api/v1/points.parquet",
                                  "/api/v1/alerts", "/api/v1/alerts.csv", "/api/v1/alarms", "/api/v1/lines",
                                  "/api/v1/points?limit=0", "/api/nothing"])
def test_api_and_export_answers_are_never_cached(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method, path", [("GET", "/api/v2/points"), ("GET", "/api/"), ("POST", "/api/v1/point"),
                                          ("DELETE", "/api/v1/point"), ("GET", "/api/v1/points/")])
def test_unknown_api_paths_are_404_json_not_the_dashboard(tmp_path, method, path):
    prefix = "/tools/lw/"
    dash_app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http",
                                           "LINEWATCH_URL_PREFIX": prefix}))
    try:
        response = dash_app.server.test_client().open(prefix + path.lstrip("/"), method=method)
        assert response.status_code == 404 and response.get_json() == {
            "error": f"no such API endpoint: {method} {path}"}
    finally:
        dash_app.server.extensions["linewatch"].stop()


@pytest.mark.parametrize("method, path, allow", [("DELETE", "/api/v1/points", "GET, HEAD, OPTIONS, POST"),
                                                 ("PUT", "/api/v1/alerts.csv", "GET, HEAD, OPTIONS"),
                                                 ("POST", "/readyz", "GET, HEAD, OPTIONS")])
def test_a_wrong_method_on_a_known_api_path_is_405_json_with_allow(tmp_path, method, path, allow):
    prefix = "/tools/lw/"
    dash_app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http",
                                           "LINEWATCH_URL_PREFIX": prefix}))
    try:
        response = dash_app.server.test_client().open(prefix + path.lstrip("/"), method=method)
        assert response.status_code == 405 and response.headers["Allow"] == allow
        assert response.get_json() == {"error": f"{method} is not allowed on {prefix.rstrip('/')}{path}: use {allow}"}
    finally:
        dash_app.server.extensions["linewatch"].stop()


@pytest.mark.server
def test_python_m_app_does_not_announce_its_versions(start_server):
    server = start_server({"LINEWATCH_SOURCE": "http"})
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
        assert response.headers.get_all("Server") == ["LineWatch"]


def _tick(**changes) -> dict:
    return {**tick_request(1, None), **changes}


@pytest.mark.parametrize("body, reason", [
    (b"{}", "a callback request is a JSON object naming its output"),
    (b"[1, 2]", "a callback request is a JSON object naming its output"),
    (b"not json", "the body is not JSON"),
    (b"[" * 3000 + b"]" * 3000, "the body is not JSON"),
    (json.dumps(_tick(output="nothing.here")).encode(), "no server callback has that output"),
    (json.dumps(_tick(output="tick-interval.interval")).encode(), "no server callback has that output"),  # clientside
    (json.dumps(_tick(inputs=[])).encode(), "inputs must hold one {id, property, value} for each of the callback's"),
    (json.dumps(_tick(state=[{"id": 1, "property": "data"}])).encode(), "state must hold one"),
    (json.dumps(_tick(outputs=[])).encode(), "outputs must hold one {id, property}"),
    (json.dumps(_tick(changedPropIds="tick-interval.n_intervals")).encode(), "changedPropIds must be a list"),
])
def test_malformed_callback_requests_are_400_without_a_traceback(client, caplog, body, reason):
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"].startswith("not a valid callback request: ")
    assert reason in response.get_json()["error"]
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert client.post("/_dash-update-component", json=tick_request(1, None)).status_code == 200


# --- properties: whatever arrives, never a 5xx and never a traceback --------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # control characters included
AWKWARD = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "-1", "9" * 400, "line-1\n", "line-1",
                           "", " ", "\x00", "1.5", "0x10", "²", "١٢"])
QUERY_VALUES = st.one_of(TEXT, AWKWARD, st.integers().map(str), st.floats().map(repr))
QUERY_NAMES = st.one_of(st.sampled_from(["since", "limit", "from", "to", "line"]), TEXT)
QUERY_PATHS = ["/api/v1/points", "/api/v1/points.csv", "/api/v1/points.parquet", "/api/v1/alerts",
               "/api/v1/alerts.csv", "/api/v1/alarms", "/api/v1/lines"]
NUMBERS = st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(),
                    st.sampled_from([1e308, -1e308, 5e-324]))
JSON = st.recursive(st.none() | st.booleans() | NUMBERS | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)
POINTS = st.fixed_dictionaries({}, optional={"value": JSON, "ts": st.one_of(JSON, NUMBERS, AWKWARD),
                                             "defect_prob": JSON, "line": st.one_of(TEXT, AWKWARD, JSON)})
BODIES = st.one_of(JSON.map(json.dumps), st.lists(POINTS, max_size=5).map(json.dumps),
                   st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
                   st.integers(1, 5000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
                   st.binary(max_size=50).map(lambda raw: raw.decode("latin-1")))
FAST = settings(max_examples=150, deadline=None)


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app for every example (the property tests ask hundreds of questions), with an alarm raised."""
    dash_app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                                           "LINEWATCH_SOURCE": "http"}))
    dash_app.server.test_client().post("/api/v1/points", json=[{"value": 0.9, "defect_prob": 0.9},
                                                                {"value": 0.1, "line": "oven-3"}])
    dash_app.server.extensions["linewatch"].recorder.flush()
    yield dash_app
    dash_app.server.extensions["linewatch"].stop()


@pytest.fixture(scope="module")
def shared_client(shared_app):
    return shared_app.server.test_client()


def assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert b"Traceback" not in response.get_data()
    if response.status_code >= 400:
        assert response.get_json()["error"]  # a reason, in JSON


@FAST
@given(path=st.sampled_from(QUERY_PATHS), query=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4))
def test_any_query_gets_an_answer_or_a_reason(shared_client, path, query):
    assert_answered(shared_client.get(path, query_string=query))


@FAST
@given(body=BODIES)
def test_any_ingest_body_gets_an_answer_or_a_reason(shared_client, body):
    assert_answered(shared_client.post("/api/v1/points", data=body.encode("utf-8", "surrogatepass"),
                                       content_type="application/json"))


@FAST
@given(body=st.one_of(BODIES, st.builds(lambda changes: json.dumps({**tick_request(1, None), **changes}),
                                        st.dictionaries(st.sampled_from(["output", "outputs", "inputs", "state",
                                                                         "changedPropIds"]), JSON, max_size=3))))
def test_any_callback_body_gets_an_answer_or_a_reason(shared_client, body):
    assert_answered(shared_client.post("/_dash-update-component", data=body.encode("utf-8", "surrogatepass"),
                                       content_type="application/json"))


ALARM_OUTPUTS = ["alarm-bar-message.children", "alarm-action-message.children", "alarm-list.rowData",
                 "alarm-journal.rowData", "alarm-figures.children"]  # the alarm panel's server callbacks


def callback_body(callbacks: dict, output: str, values: list) -> dict:
    """A request for the server callback whose outputs include ``output``, its inputs and states
    given ``values`` in order (what a page that sends anything could post)."""
    key = next(k for k, spec in callbacks.items() if output in k and "callback" in spec)
    spec = callbacks[key]
    outputs = [dict(zip(("id", "property"), part.split(".", 1))) for part in key.strip(".").split("...")]
    props = spec["inputs"] + spec["state"]
    filled = [{"id": p["id"], "property": p["property"], "value": v} for p, v in zip(props, values)]
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": filled[:len(spec["inputs"])], "state": filled[len(spec["inputs"]):],
            "changedPropIds": [f"{props[0]['id']}.{props[0]['property']}"]}


@FAST
@given(output=st.sampled_from(ALARM_OUTPUTS), values=st.lists(JSON, min_size=8, max_size=8))
def test_any_value_sent_to_the_alarm_callbacks_gets_an_answer(shared_app, shared_client, output, values):
    body = callback_body(shared_app.callback_map, output, values)
    assert_answered(shared_client.post("/_dash-update-component", json=body))
