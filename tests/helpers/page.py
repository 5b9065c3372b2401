"""The page test every deployment runs, the history it expects, and small readers of the page."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlsplit

import numpy as np

from app.points import DEFAULT_LINE, Thresholds
from app.recorder import Recorder
from app.store import LineStores
from layouts import ids

SEEDED = 200
MODERATE = range(50, 60)  # probability 0.8: anomalies at the default 0.5, not at 0.95
SEVERE = range(100, 105)  # probability 0.97: anomalies at both

PLOT = f"document.querySelector('#{ids.CHART} .js-plotly-plot')"
CHART_POINTS = f"{PLOT}?.data[0].x.length"
ROWS = f"""(() => {{ const rows = [];
    dash_ag_grid.getApi('{ids.ALERTS}').forEachNode((node) => rows.push(node.data)); return rows; }})()"""  # drawn or not


def seed_history(data_dir) -> None:
    """Recorded history the app restores at start, with known anomalies."""
    values, probs = np.full(SEEDED, 0.4), np.full(SEEDED, 0.05)
    values[list(MODERATE)], probs[list(MODERATE)] = 0.7, 0.8
    values[list(SEVERE)], probs[list(SEVERE)] = 0.8, 0.97
    stores = LineStores(SEEDED)
    stores.get(DEFAULT_LINE).append(time.time() - SEEDED + np.arange(SEEDED), values, probs)
    data_dir.mkdir(parents=True, exist_ok=True)
    Recorder(data_dir, stores, Thresholds(0.5, 0.5)).flush()


def chart_points(page) -> int:
    return page.evaluate(f"document.getElementById('{ids.CHART}').querySelector('.js-plotly-plot').data[0].x.length")


def wait_points(page, more_than: int, timeout: float = 30_000) -> None:
    """Until the chart holds more than ``more_than`` points."""
    page.wait_for_function(f"{CHART_POINTS} > {more_than}", timeout=timeout)


def highlighted(page) -> dict:
    """Anomaly markers drawn, and anomalies recomputed from the chart's own data under the sliders' values
    (the value threshold in the line's unit).  Read once the two agree or after two seconds: a tick may
    land between the reads."""
    thresholds = [float(page.input_value(f"#{ids.PROB_THRESHOLD} input[type=number]")),
                  float(page.input_value(f"#{ids.VALUE_THRESHOLD} input[type=number]"))]
    script = f"""([prob, value]) => {{
        const data = {PLOT}.data;
        const expected = data[0].y.filter((v, i) => data[1].y[i] > prob && v > value).length;
        return {{markers: data[2].y.filter((y) => y !== null).length, expected: expected}};
    }}"""
    for _ in range(20):
        counts = page.evaluate(script, thresholds)
        if counts["expected"] == counts["markers"]:
            break
        page.wait_for_timeout(100)
    return counts


def alarm_rows(page, rule: str | None = None) -> list[dict]:
    """The alarm table's rows (their data), all or those of one ``rule``."""
    return [row for row in page.evaluate(ROWS) if rule is None or row["rule"] == rule]


def post_points(url: str, points: list[dict]) -> dict:
    """POST readings to ``url``/api/v1/points; the answer (accepted count, seqs per line)."""
    request = urllib.request.Request(url + "/api/v1/points", data=json.dumps(points).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def text(page, element_id: str) -> str:
    return page.inner_text(f"#{element_id}").strip()


def wait_text(page, element_id: str, expected: str) -> None:
    page.wait_for_function("([id, text]) => document.getElementById(id)?.innerText.trim() === text",
                           arg=[element_id, expected], timeout=15_000)


def line_url(base: str, line: str = DEFAULT_LINE) -> str:
    """The address of ``line``'s page on the app at ``base`` (with its URL prefix, if any)."""
    return base.rstrip("/") + "/line/" + line


def set_slider(page, element_id: str, value: str) -> None:
    box = page.locator(f"#{element_id} input[type=number]")
    box.fill(value)
    box.press("Tab")  # Dash 4's slider number box commits on blur


# Counts plotly's measurements of time labels (a clone in its hidden "js-plotly-tester" SVG reading
# "HH:MM"): false when this plotly has no such SVG, so the count would say nothing.
COUNT_TIME_LABEL_MEASUREMENTS = """() => {
  const tester = document.getElementById('js-plotly-tester');
  if (!tester) { return false; }
  const measure = Element.prototype.getBoundingClientRect;
  window.lwTimeLabelMeasurements = 0;
  Element.prototype.getBoundingClientRect = function () {
    if (this.ownerSVGElement === tester && /\\d:\\d\\d/.test(this.textContent)) { window.lwTimeLabelMeasurements += 1; }
    return measure.call(this);
  };
  return true;
}"""


def check_live_page(server, browser, tmp_path) -> None:
    """Live points, thresholds, alarm table, CSV exports, zoom, pause and a clean console, on a fresh
    server (``server.url``) that restored ``seed_history`` and streams about 10 points/s."""
    from tests.helpers.browser import ConsoleLog  # playwright only where a browser runs

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(server.url))

    # restored history shows at once, then points stream in
    wait_text(page, ids.KPI_STATUS, "Live")
    page.wait_for_function(f"{CHART_POINTS} >= {SEEDED}")
    assert page.evaluate(COUNT_TIME_LABEL_MEASUREMENTS)
    before = chart_points(page)
    wait_points(page, before + 29, timeout=10_000)  # 30 more points: it streams
    # the time labels slide on every tick; plotly keeps each measured label box keyed by its position,
    # so measuring them every tick grew the tab's heap by ~10 boxes a tick (layouts/chart.py X_TICK_LABELS)
    assert page.evaluate("window.lwTimeLabelMeasurements") <= 3
    assert page.is_hidden(f"#{ids.WAITING_OVERLAY}")
    assert float(text(page, ids.KPI_VALUE)) > 0
    assert float(text(page, ids.KPI_THROUGHPUT)) > 0
    assert text(page, ids.KPI_SOURCE_STATE) == "running"

    # the window's history downloads from the recorder (the restored points are in it)
    href = page.get_attribute(f"#{ids.EXPORT_HISTORY_CSV}", "href")
    prefix = urlsplit(server.url).path or "/"
    assert href.startswith(f"{prefix}api/v1/points.csv?line=line-1&from=")
    with page.expect_download() as history:
        page.click(f"#{ids.EXPORT_HISTORY_CSV}")
    exported = open(history.value.path(), encoding="utf-8").read().splitlines()
    assert exported[0] == "time_utc,seq,ts,value,prob" and len(exported) > SEEDED

    # the default thresholds highlight every seeded anomaly on the chart
    loose = highlighted(page)
    assert loose["markers"] == loose["expected"] >= len(MODERATE) + len(SEVERE)
    assert int(text(page, ids.KPI_ANOMALIES)) >= len(MODERATE) + len(SEVERE)
    rows_before = {row["id"] for row in alarm_rows(page)}

    # a stricter probability threshold re-highlights the whole window at once; the alarm table stays
    set_slider(page, ids.PROB_THRESHOLD, "0.95")
    page.wait_for_function(f"{PLOT}.data[2].y.filter((y) => y !== null).length < {loose['markers']}")
    strict = highlighted(page)
    assert strict["markers"] == strict["expected"] >= len(SEVERE)
    assert strict["markers"] <= loose["markers"] - len(MODERATE)
    assert rows_before <= {row["id"] for row in alarm_rows(page)}  # alarms are the detector's, not the sliders'
    shapes = page.evaluate(f"{PLOT}.layout.shapes.map(s => s.y0)")
    assert shapes == [0.5, 0.95]  # the value threshold in the signal's unit, not value / 100
    page.screenshot(path=str(tmp_path / "page.png"))

    # the alarm table exports as CSV, one line per alarm
    before = len(alarm_rows(page))
    with page.expect_download() as download:
        page.click(f"#{ids.EXPORT_BUTTON}")
    lines = open(download.value.path(), encoding="utf-8-sig").read().strip().splitlines()
    assert download.value.suggested_filename == "linewatch-alarms.csv"
    assert lines[0] == '"Time","Rule","Severity","Value","Message"'
    assert before <= len(lines) - 1 <= len(alarm_rows(page))  # the simulator may raise one meanwhile

    # a zoom the operator chose stays while points stream in
    page.evaluate(f"Plotly.relayout({PLOT}, {{'yaxis.range': [0.3, 0.9]}})")
    wait_points(page, chart_points(page))
    assert page.evaluate(f"{PLOT}.layout.yaxis.range") == [0.3, 0.9]

    # pause stops updates; resume starts them again
    page.click(f"#{ids.PAUSE_BUTTON}")
    wait_text(page, ids.PAUSE_BUTTON, "Resume")
    page.wait_for_timeout(1500)  # a tick already in flight may still land
    paused_at = chart_points(page)
    page.wait_for_timeout(3000)  # time passing IS the check: nothing arrives while paused
    assert chart_points(page) == paused_at
    assert text(page, ids.KPI_STATUS) == "Paused"
    page.click(f"#{ids.PAUSE_BUTTON}")
    wait_points(page, paused_at)

    # Dash's undo history gains an entry a tick and is emptied every tick: a page left open does not grow
    assert page.evaluate("window.store.getState().history.past.length") <= 1

    assert console.entries == []
    page.close()
