"""Pages by address: /line/<id> is that line's dashboard (its store, name and unit), under a URL prefix too."""

from __future__ import annotations

import json
import time

import pytest

from app.config import Config
from app.readings import validate_points
from app.policy import OVERVIEW, route
from app.web import create_app
from callbacks.pages import known_lines
from layouts import ids
from tests.helpers.ticks import render_request, tick_request

LINES = '[lines.oven-3]\nname = "Oven 3 temperature"\nunit = "°C"\n'


@pytest.fixture
def make_app(tmp_path):
    """``make_app(prefix)``: an app on a lines file naming oven-3, under ``prefix``."""
    built = []
    (tmp_path / "lines.toml").write_text(LINES, encoding="utf-8")

    def make(prefix="/"):
        built.append(create_app(Config.from_env({
            "LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http", "LINEWATCH_URL_PREFIX": prefix,
            "LINEWATCH_LINES_FILE": str(tmp_path / "lines.toml")})))
        return built[-1]

    yield make
    for app in built:
        app.server.extensions["linewatch"].stop()


@pytest.mark.parametrize("pathname, prefix, line", [
    ("/", "/", OVERVIEW), (None, "/", OVERVIEW), ("/line/oven-3", "/", "oven-3"), ("/line/oven-3/", "/", "oven-3"),
    ("/lw/line/oven-3", "/lw/", "oven-3"), ("/lw", "/lw/", OVERVIEW), ("/line/oven-3", "/lw/", None),
    ("/line/", "/", None), ("/line/a b", "/", None), ("/other", "/", None), ("/line/x/y", "/", None),
])
def test_the_address_names_the_line(pathname, prefix, line):
    assert route(pathname, prefix) == line


def test_the_picker_offers_the_lines_file_first_then_lines_with_readings():
    config = Config(lines=tuple(Config.from_env({}).line(i) for i in ("b", "a")))
    assert [line.id for line in known_lines(config, ["z", "a", "c"])] == ["b", "a", "c", "z"]


def render(client, prefix, pathname, lang="en"):
    response = client.post(prefix + "_dash-update-component", json=render_request(pathname, lang))
    assert response.status_code == 200
    return json.dumps(response.get_json()["response"][ids.PAGE]["children"], ensure_ascii=False)


@pytest.mark.parametrize("prefix", ["/", "/linewatch/"])
def test_a_line_page_by_address_shows_that_line_and_its_tick_reads_its_store(make_app, prefix):
    app = make_app(prefix)
    runtime, client = app.server.extensions["linewatch"], app.server.test_client()
    page = client.get(prefix + "line/oven-3")
    assert page.status_code == 200 and b"_dash-config" in page.data  # Dash's page, bookmarkable
    runtime.ingestor.ingest(validate_points([{"line": "line-2", "value": 0.3}], time.time()))
    runtime.ingestor.ingest(validate_points([{"line": "oven-3", "value": v} for v in (71.5, 72.5)], time.time()))

    shown = render(client, prefix, prefix + "line/oven-3")
    assert '"Oven 3 temperature (°C)"' in shown  # name and unit from the lines file
    assert f'"id": "{ids.LINE_ID}"' in shown and '"data": "oven-3"' in shown
    assert '"value": "line-2"' in shown  # the picker offers a line as soon as readings arrive
    assert "产线" in render(client, prefix, prefix + "line/oven-3", "zh")
    assert "No line has the id" in render(client, prefix, prefix + "line/not a line")

    tick = client.post(prefix + "_dash-update-component", json=tick_request(1, None, line="oven-3")).get_json()
    assert tick["response"][ids.TICK]["data"]["value"] == [71.5, 72.5]
    waiting = client.post(prefix + "_dash-update-component", json=tick_request(1, None, line="line-9")).get_json()
    assert waiting["response"][ids.TICK]["data"]["ts"] == []  # no readings yet: the page waits


def test_the_line_pages_tick_brings_the_pickers_lines_only_when_they_changed(make_app):
    app = make_app()
    runtime, client = app.server.extensions["linewatch"], app.server.test_client()

    def tick(lines_version):
        body = tick_request(1, None, line="oven-3", lines_version=lines_version)
        answer = client.post("/_dash-update-component", json=body)
        return answer.get_json()["response"][ids.TICK]["data"]

    first = tick(None)["lines"]
    assert first["options"] == [{"label": "Oven 3 temperature (°C)", "value": "oven-3"},
                                {"label": "line-1", "value": "line-1"}]
    assert "lines" not in tick(first["version"])  # unchanged: not sent again
    runtime.ingestor.ingest(validate_points([{"line": "kiln-4", "value": 0.3}], time.time()))
    update = tick(first["version"])["lines"]  # a line with its first reading joins the picker at the next tick
    assert update["version"] != first["version"] and update["options"][1:] == [
        {"label": "kiln-4", "value": "kiln-4"}, {"label": "line-1", "value": "line-1"}]


@pytest.mark.parametrize("prefix", ["/", "/linewatch/"])
def test_an_address_that_is_no_page_answers_404_and_the_apps_own_addresses_answer(make_app, prefix):
    client = make_app(prefix).server.test_client()
    for path in ("some/other/path", "other", "line", "lines/oven-3", "healthz/x", "favicon.ico", "static/x.css"):
        for method in ("GET", "HEAD"):
            missing = client.open(prefix + path, method=method)
            assert missing.status_code == 404, (method, path)
    assert b"_dash-config" in client.get(prefix + "some/other/path").data  # Dash's page: it says there is no such page
    known = ("", "line/oven-3", "line/oven-3/", "assets/linewatch.js", "_dash-layout", "_dash-dependencies",
             "_favicon.ico", "healthz", "readyz", "metrics", "api/v1/lines")
    assert {path: client.get(prefix + path).status_code for path in known} == dict.fromkeys(known, 200)
    assert client.post(prefix + "some/other/path").status_code == 405  # only loading a page is answered 404


@pytest.mark.parametrize("prefix", ["/", "/linewatch/"])
def test_an_unknown_line_answers_404_and_says_so_until_its_first_reading(make_app, prefix):
    app = make_app(prefix)
    runtime, client = app.server.extensions["linewatch"], app.server.test_client()
    assert [client.get(prefix + path).status_code for path in ("", "line/oven-3", "api/v1/lines")] == [200] * 3
    missing = client.get(prefix + "line/kiln-4")
    assert missing.status_code == 404 and b"_dash-config" in missing.data  # Dash's page, which says why
    assert client.get(prefix + "line/a%20b").status_code == client.get(prefix + "line/").status_code == 404
    shown = render(client, prefix, prefix + "line/kiln-4")
    assert "not in the lines file" in shown and f'"href": "{prefix}"' in shown  # a link to the overview
    assert ids.LINE_ID not in shown
    assert "前往全厂总览" in render(client, prefix, prefix + "line/kiln-4", "zh")

    runtime.ingestor.ingest(validate_points([{"line": "kiln-4", "value": 0.3}], time.time()))
    assert client.get(prefix + "line/kiln-4").status_code == 200  # reachable from its first reading on
    assert '"data": "kiln-4"' in render(client, prefix, prefix + "line/kiln-4")
