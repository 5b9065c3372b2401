"""Looking back in real headless Chromium: a line with three days of history (posted over HTTP with
past timestamps) and one one-reading spike; pick "Last week", zoom into an hour, see the range's
alarm, export the range, come back to Live.  Behind basic auth: the browser's range requests go
with the page's sign-in."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from layouts import ids
from tests.helpers.browser import ConsoleLog
from tests.helpers.auth import basic_auth
from tests.helpers.page import PLOT, line_url, text

pytestmark = [pytest.mark.server, pytest.mark.browser]

DAYS = 3
STEP_S = 10  # one reading every 10 s, up to a minute ago: more readings than the chart draws at once
READINGS = (DAYS * 86400 - 60) // STEP_S
SPIKE = 0.95  # one reading, 1.5 days back, with a defect probability that raises the threshold alarm
CALM = 0.4
POINTS_PER_POST = 10_000
USER, PASSWORD = "alice", "s3cret"  # the conftest's users_file


def post_points(url: str, points: list[dict]) -> None:
    request = urllib.request.Request(url + "/api/v1/points", data=json.dumps(points).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": basic_auth(USER, PASSWORD)})
    urllib.request.urlopen(request, timeout=30).close()


def post_history(url: str, now: float) -> float:
    """Three days of calm readings up to a minute ago, with the spike; the spike's timestamp."""
    ts = np.arange(now - DAYS * 86400, now - 60, STEP_S)
    rng = np.random.default_rng(15)
    values = CALM + rng.normal(0, 0.01, ts.size)
    probs = np.full(ts.size, 0.05)
    spike = ts.size // 2
    values[spike], probs[spike] = SPIKE, 0.97
    points = [{"ts": float(t), "value": round(float(v), 4), "defect_prob": float(p)}
              for t, v, p in zip(ts, values, probs)]
    for start in range(0, len(points), POINTS_PER_POST):
        post_points(url, points[start:start + POINTS_PER_POST])
    return float(ts[spike])


def chart(page) -> dict:
    """The drawn chart: values, alarm markers' hover texts, the x axis's range and uirevision."""
    return page.evaluate(f"""(() => {{ const p = {PLOT}; return {{
        x: Array.from(p.data[0].x), y: Array.from(p.data[0].y), alarms: Array.from(p.data[3].text),
        range: p.layout.xaxis.range, revision: p.layout.uirevision}}; }})()""")


def wait_status(page, needle: str, unlike: str = "", timeout: float = 20_000) -> str:
    """The range status once it says ``needle`` and is not ``unlike`` (the one before)."""
    page.wait_for_function("([id, needle, unlike]) => { const text = document.getElementById(id)?.innerText.trim();"
                           " return text && text.includes(needle) && text !== unlike; }",
                           arg=[ids.RANGE_STATUS, needle, unlike], timeout=timeout)
    return text(page, ids.RANGE_STATUS)


def test_look_back_a_week_zoom_into_an_hour_and_come_back_live(start_server, browser, users_file, tmp_path):
    server = start_server({"LINEWATCH_SOURCE": "http", "LINEWATCH_AUTH": "basic",
                           "LINEWATCH_AUTH_USERS_FILE": str(users_file)})
    spike_ts = post_history(server.url, time.time())
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="Asia/Shanghai",
                            http_credentials={"username": USER, "password": PASSWORD})
    console = ConsoleLog(page)
    page.goto(line_url(server.url) + "?lang=en")
    page.wait_for_function(f"{PLOT}?.data[0].x.length > 0")
    assert text(page, ids.RANGE_STATUS) == "The chart streams live."
    live = chart(page)

    # last week: the range at its resolution, the one-reading spike and its alarm on the chart
    page.locator(f"#{ids.RANGE_PICK} label", has_text="Last week").click()
    week = wait_status(page, "Last week")
    assert parse_qs(urlsplit(page.url).query) == {"lang": ["en"], "range": ["7d"]}  # bookmarkable, lang kept
    # per minute, not per hour: the week holds DAYS days of readings, whose minute rollups fit the chart
    assert f"{READINGS:,} readings, per minute" in week and "Chart paused" in week, week
    drawn = chart(page)
    assert 3 * 24 * DAYS <= len(drawn["x"]) <= 2 * 1440, len(drawn["x"])
    assert max(drawn["y"]) == pytest.approx(SPIKE)
    assert any("threshold" in hover for hover in drawn["alarms"]), drawn["alarms"]
    csv = page.get_attribute(f"#{ids.EXPORT_HISTORY_CSV}", "href")
    query = parse_qs(urlsplit(csv).query)
    assert query["line"] == ["line-1"]
    assert float(query["to"][0]) - float(query["from"][0]) == pytest.approx(7 * 86400, abs=1)
    assert text(page, ids.EXPORT_HISTORY_LABEL) == "History of the range:"
    with page.expect_download() as download:
        page.click(f"#{ids.EXPORT_HISTORY_CSV}")
    assert len(open(download.value.path(), encoding="utf-8").read().splitlines()) == 1 + READINGS  # header, the week
    page.screenshot(path=str(tmp_path / "range-light.png"))

    # zoom into the spike's hour: that hour loads raw, every reading of it
    in_hour = page.evaluate(f"""([a, b]) => {{ const x = Array.from({PLOT}.data[0].x);
        return x.filter((v) => v >= LineWatch.localMs(a) && v <= LineWatch.localMs(b)).length; }}""",
                            [spike_ts - 1800, spike_ts + 1800])
    page.evaluate(f"""([a, b]) => Plotly.relayout({PLOT}, {{'xaxis.range[0]': LineWatch.localMs(a),
                                                            'xaxis.range[1]': LineWatch.localMs(b)}})""",
                  [spike_ts - 1800, spike_ts + 1800])
    hour = wait_status(page, "readings, raw", unlike=week)
    assert "points drawn" not in hour, hour  # every reading of the span
    zoomed = chart(page)
    assert len(zoomed["x"]) >= 3600 // STEP_S > 4 * in_hour, (len(zoomed["x"]), in_hour, hour)
    assert max(zoomed["y"]) == pytest.approx(SPIKE)
    assert zoomed["revision"] == drawn["revision"]  # the operator's zoom stays
    axis, stamp = page.evaluate(f"[{PLOT}._fullLayout.xaxis.range[0], LineWatch.localStamp({spike_ts - 1800})]")
    assert axis[:16] == stamp[:16]  # the axis shows the viewer's local time (Shanghai), as the status does
    page.click(f"#{ids.THEME_SWITCH}")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    page.screenshot(path=str(tmp_path / "range-dark.png"))

    # Live: the streaming chart again, with readings that arrived meanwhile
    page.locator(f"#{ids.RANGE_PICK} label", has_text="Live").click()
    wait_status(page, "The chart streams live.")
    assert parse_qs(urlsplit(page.url).query) == {"lang": ["en"]}
    post_points(server.url, [{"value": 0.41, "defect_prob": 0.05}])
    now_x = page.evaluate("LineWatch.localMs(Date.now() / 1000 - 30)")
    page.wait_for_function(f"(x) => {PLOT}.data[0].x.at(-1) > x", arg=now_x, timeout=10_000)
    back = chart(page)
    assert back["revision"] == "stream" and len(back["x"]) >= len(live["x"])  # the whole window, streaming

    # the browser's Back: the week again, as the address says
    page.go_back()
    wait_status(page, "Last week")
    assert page.locator(f"#{ids.RANGE_PICK} input:checked").get_attribute("value") == "7d"
    assert console.entries == []
    page.close()
