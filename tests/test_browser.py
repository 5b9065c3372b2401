"""The page in real headless Chromium: live points, thresholds, alarms, units, pause, languages, clean console."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from werkzeug.serving import make_server

from app.points import DEFAULT_LINE
from layouts import ids
from tests.helpers.browser import ConsoleLog
from tests.helpers.page import (PLOT, ROWS, alarm_rows, chart_points, check_live_page, line_url, post_points,
                                seed_history, text, wait_points, wait_text)
from tests.helpers.processes import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def server(start_server, tmp_path):
    seed_history(tmp_path / "data")
    return start_server({"LINEWATCH_SIM_RATE": "10"})


@pytest.mark.server
def test_live_page_thresholds_pause_and_clean_console(server, browser, tmp_path):
    check_live_page(server, browser, tmp_path)


@pytest.mark.server
def test_alarm_table_shows_the_detector_alarms_and_the_value_slider_fits_the_data(start_server, browser):
    # no restored history: its seeded anomalies would hold the "threshold" alarm raised for the next 150 readings
    server = start_server({"LINEWATCH_SIM_RATE": "10"})
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(server.url))
    wait_text(page, ids.KPI_STATUS, "Live")

    # readings that carry a defect probability above the thresholds raise one alarm: one row, one marker
    accepted = post_points(server.url, [{"value": 0.9, "defect_prob": 0.97}] * 3)
    first = accepted["seqs"][DEFAULT_LINE][0]
    page.wait_for_function(f"{ROWS}.some((row) => row.rule === 'threshold')", timeout=15_000)
    [row] = alarm_rows(page, "threshold")
    assert row["id"] == f"{DEFAULT_LINE}/{first}/threshold" and row["severity"] == "Warning"
    assert row["value"] == 0.9 and "defect probability above 0.5" in row["message"]
    page.wait_for_function(f"{PLOT}.data[3].text.some((t) => t.startsWith('threshold · Warning'))")
    assert 0.9 in page.evaluate(f"{PLOT}.data[3].y")
    cells = page.inner_text(f"#{ids.ALERTS} .ag-row[row-id='{row['id']}']")
    assert "threshold" in cells and "Warning" in cells and "0.900" in cells

    # the value slider (no unit, no limits) spans the window's values, not 0..100, and keeps the threshold
    page.wait_for_function(f"""(() => {{
        const box = document.querySelector('#{ids.VALUE_THRESHOLD} input[type=number]'), y = {PLOT}.data[0].y;
        const low = Number(box.min), high = Number(box.max);
        return y.every((v) => low <= v && v <= high) && high - low < 2 && Number(box.step) <= (high - low) / 50;
    }})()""", timeout=5_000)
    assert float(page.input_value(f"#{ids.VALUE_THRESHOLD} input[type=number]")) == 0.5
    assert page.inner_text(f".lw-field:has(#{ids.VALUE_THRESHOLD}) .lw-field-label") == "Value threshold"
    assert console.entries == []
    page.close()

    # the same alarm on the Chinese page: its message worded in Chinese around the detector's figures
    page = browser.new_page(locale="zh-CN")
    page.goto(line_url(server.url) + "?lang=zh")
    page.wait_for_function(f"{ROWS}.some((row) => row.id === '{row['id']}')", timeout=15_000)
    [zh_row] = [r for r in alarm_rows(page, "threshold") if r["id"] == row["id"]]
    assert zh_row["message"] == "缺陷概率超过 0.5，且数值 0.9 超过 0.5", (zh_row["message"], row["message"])
    page.close()


OVEN_LINES = """
[lines.line-1]
name = "Oven 3 temperature"
unit = "°C"
lsl = 70
usl = 100
"""


@pytest.mark.server
def test_a_line_in_celsius_has_its_unit_on_slider_axis_and_kpi_and_a_spike_raises_an_alarm(start_server, browser,
                                                                                             tmp_path):
    lines_file = tmp_path / "lines.toml"
    lines_file.write_text(OVEN_LINES, encoding="utf-8")
    server = start_server({"LINEWATCH_SOURCE": "http", "LINEWATCH_LINES_FILE": str(lines_file)})
    rng = np.random.default_rng(7)
    start = time.time() - 320
    normal = 85 + rng.normal(0, 1.5, 300)
    post_points(server.url, [{"ts": start + i, "value": round(float(v), 3), "line": DEFAULT_LINE}
                             for i, v in enumerate(normal)])
    after = [130.0] + (85 + rng.normal(0, 1.5, 10)).round(3).tolist()
    accepted = post_points(server.url, [{"ts": start + 300 + i, "value": v, "line": DEFAULT_LINE}
                                        for i, v in enumerate(after)])
    spike = accepted["seqs"][DEFAULT_LINE][0]

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(server.url))
    page.wait_for_function(f"{PLOT}?.data[0].x.length === 311")

    # the value slider speaks °C: its label, and a range around the specification limits
    label = page.inner_text(f".lw-field:has(#{ids.VALUE_THRESHOLD}) .lw-field-label")
    assert label == "Value threshold (°C)"
    box = page.locator(f"#{ids.VALUE_THRESHOLD} input[type=number]")
    low, high, step = (float(box.get_attribute(name)) for name in ("min", "max", "step"))
    assert 60 <= low <= 70 and 100 <= high <= 110 and 0.1 <= step <= 1, (low, high, step)
    assert low <= float(box.input_value()) <= high
    marks = page.inner_text(f"#{ids.VALUE_THRESHOLD}")
    assert "70" in marks and "100" in marks

    # the chart's value axis, the limit lines and the KPI say the unit
    assert page.evaluate(f"{PLOT}.layout.yaxis.title.text") == "Value (°C)"
    assert page.text_content(f"#{ids.CHART} .ytitle") == "Value (°C)"  # drawn, not only in the layout
    limits = page.evaluate(f"{PLOT}.layout.shapes.filter(s => s.name === 'lsl' || s.name === 'usl').map(s => s.y0)")
    assert sorted(limits) == [70, 100]
    card = page.inner_text(f".lw-kpi:has(#{ids.KPI_VALUE})")
    assert "°C" in card and 80 < float(text(page, ids.KPI_VALUE)) < 90

    # the spike raised a "score" alarm: a row in the table, a marker at its reading
    page.wait_for_function(f"{ROWS}.some((row) => row.rule === 'score')", timeout=15_000)
    row = next(r for r in alarm_rows(page, "score") if r["seq"] == spike)
    assert row["id"] == f"{DEFAULT_LINE}/{spike}/score" and row["value"] == 130
    assert row["severity"] in ("Warning", "Critical") and "130" in row["message"]
    cells = page.inner_text(f"#{ids.ALERTS} .ag-row[row-id='{row['id']}']")
    assert "score" in cells and "130.0 °C" in cells
    header = page.inner_text(f"#{ids.ALERTS} .ag-header")
    assert "Value (°C)" in header
    markers = page.evaluate(f"{PLOT}.data[3].y.filter(y => y !== null)")
    assert 130 in markers
    page.screenshot(path=str(tmp_path / "celsius.png"))
    assert console.entries == []
    page.close()


@pytest.mark.server
def test_an_alarm_counted_in_the_bar_acknowledged_there_then_shelved_from_the_list_with_its_journal(start_server,
                                                                                                    browser):
    server = start_server({"LINEWATCH_SOURCE": "http"})  # only the readings posted here raise alarms
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(server.url))
    wait_text(page, ids.ALARM_NEWEST, "No unacknowledged alarms")
    assert page.is_disabled(f"#{ids.ALARM_ACK_NEWEST}") and not page.is_checked(f"#{ids.ALARM_SOUND}")

    accepted = post_points(server.url, [{"value": 0.9, "defect_prob": 0.97}] * 3)
    alarm = f"{DEFAULT_LINE}/{accepted['seqs'][DEFAULT_LINE][0]}/threshold"
    wait_text(page, ids.ALARM_COUNT_P3, "1")  # a warning is priority 3: shape, name and colour
    assert "lw-prio-on" in page.get_attribute(f"#{ids.ALARM_BADGE_P3}", "class")
    assert page.inner_text(f"#{ids.ALARM_BADGE_P3}").split() == ["■", "P3", "1"]
    assert text(page, ids.ALARM_NEWEST).startswith(f"P3 · {DEFAULT_LINE} · threshold · ")

    page.click(f"#{ids.ALARM_ACK_NEWEST}")
    wait_text(page, ids.ALARM_BAR_MESSAGE, f"Acknowledged {alarm}.")
    wait_text(page, ids.ALARM_COUNT_P3, "0")
    wait_text(page, ids.ALARM_NEWEST, "No unacknowledged alarms")

    page.click(f"#{ids.ALARM_OPEN}")
    row = f"#{ids.ALARM_LIST} .ag-center-cols-container .ag-row[row-id='{alarm}']"
    page.click(f"{row} .ag-cell[col-id=line]")
    wait_text(page, ids.ALARM_SELECTED, f"{alarm} · P3 ■ Medium · Acknowledged")
    page.click(f"#{ids.ALARM_ACK}")  # acknowledged already: refused in words
    wait_text(page, ids.ALARM_ACTION_MESSAGE, f"Not possible: {alarm} is now “Acknowledged”.")
    page.fill(f"#{ids.ALARM_REASON}", "sensor swap")
    page.fill(f"#{ids.ALARM_MINUTES}", "30")
    page.click(f"#{ids.ALARM_SHELVE}")
    wait_text(page, ids.ALARM_ACTION_MESSAGE, f"Shelved {alarm} for 30 min.")
    page.wait_for_function(f"document.querySelector(\"{row} [col-id=stateText]\")?.innerText === 'Shelved'")
    journal = f"#{ids.ALARM_JOURNAL} .ag-center-cols-container"
    page.wait_for_function(f"document.querySelectorAll('{journal} .ag-row').length === 3")
    entries = [page.inner_text(f"{journal} .ag-row[row-id='{n}']").split("\n") for n in range(3)]
    assert [e[1:] for e in entries] == [
        ["Raised", "defect probability above 0.5 with value 0.9 above 0.5", "Unacknowledged"],
        ["Acknowledged", "anonymous", "Acknowledged"], ["Shelved", "anonymous", "sensor swap", "Shelved"]]

    page.click(f"#{ids.ALARM_TABS} .nav-link >> text=Alarm performance")
    page.wait_for_selector(f"#{ids.ALARM_FIGURES} table")
    assert "Peak 10-minute count" in text(page, ids.ALARM_FIGURES)
    assert console.entries == []
    page.close()


TILE_BACKGROUND = "getComputedStyle(document.querySelector('.lw-tile')).backgroundColor"
# the tile's panel colour by theme and status (assets/linewatch.css: --lw-panel, --lw-alarm-bg)
TILE_COLOURS = {("light", False): "rgb(247, 248, 249)", ("light", True): "rgb(251, 227, 225)",
                ("dark", False): "rgb(37, 41, 46)", ("dark", True): "rgb(74, 34, 32)"}


def tile_colour_is_the_themes(page, theme: str) -> bool:
    """The first tile has its theme's colour for the status it shows (the simulator may raise an alarm)."""
    alarm = page.evaluate("document.querySelector('.lw-tile').classList.contains('lw-tile-alarm')")
    return page.evaluate(TILE_BACKGROUND) == TILE_COLOURS[theme, alarm]


@pytest.mark.server
def test_overview_and_line_page_in_chinese_then_dark_theme_on_both(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    console = ConsoleLog(page)
    page.goto(server.url + "/")  # the plant overview: tile status in words, in Chinese
    tile = f"#{ids.OVERVIEW_TILES} a[href='/line/{DEFAULT_LINE}']"
    # its status in Chinese: live, or alarm once the simulator's spikes raised one
    page.wait_for_selector(f"{tile} .lw-tile-status:text-is('实时'), {tile} .lw-tile-status:text-is('报警')")
    assert "全厂总览" in page.inner_text(".lw-overview-title")
    assert tile_colour_is_the_themes(page, "light")
    page.click(tile)  # to the line's page, without a reload
    wait_text(page, ids.KPI_STATUS, "实时")
    assert page.url == line_url(server.url)
    assert "实时缺陷监测" in page.inner_text("header")
    assert text(page, ids.PAUSE_BUTTON) == "停止监控"
    assert text(page, ids.ALARM_OPEN) == "报警列表" and text(page, ids.ALARM_ACK_NEWEST) == "确认"
    # the chart's own words: its mode bar, and the date under the time axis's first label
    page.wait_for_selector(f"#{ids.CHART} .modebar-btn[data-title='缩放']", state="attached")
    page.wait_for_function(f"""[...document.querySelectorAll('#{ids.CHART} .xtick text')]
                               .some(t => /\\d月 \\d/.test(t.textContent))""")
    assert page.inner_text(f"#{ids.ALARM_BADGE_P1}").split() == ["◆", "1级", "0"]
    # the CJK glyphs come from an installed font, not the fallback box
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '20px "Noto Sans CJK SC"'; return c.measureText('实时缺陷').width; }""")
    assert width > 60
    post_points(server.url, [{"value": 0.4, "line": "kiln-7"}])  # a new line joins the open page's picker
    page.click(f"#{ids.LINE_PICKER}")
    page.wait_for_selector("text='kiln-7'")  # the opened picker's options (drawn outside the picker)
    page.keyboard.press("Escape")
    assert calendar_weekdays(page, "按日期") == ["一", "二", "三", "四", "五", "六", "日"]
    page.click("a.lw-lang")  # the header link switches language and it sticks
    wait_text(page, ids.PAUSE_BUTTON, "Pause")
    assert "Live defect monitoring" in page.inner_text("header")
    # the page's language, not the browser's (zh-CN here), names the calendar's weekdays
    assert calendar_weekdays(page, "Dates") == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    page.goto(line_url(server.url))  # back to Live (the calendar's range is in the address)
    page.click(f"label[for={ids.THEME_SWITCH}]")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(28, 31, 35)"
    page.goto(server.url + "/")  # the overview, loaded afresh, keeps the theme picked
    page.wait_for_selector(f"{tile} .lw-tile-status:text-is('Live'), {tile} .lw-tile-status:text-is('Alarm')")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    assert tile_colour_is_the_themes(page, "dark")
    assert console.entries == []
    page.close()


def calendar_weekdays(page, calendar_label: str) -> list[str]:
    """Pick the range bar's calendar, open it and read the weekday initials over its first month."""
    page.click(f".lw-range-pick label:text-is('{calendar_label}')")
    page.click(f"#{ids.RANGE_DATES_BOX} input >> nth=0")
    header = ".dash-datepicker-calendar thead tr:nth-child(2) th"
    page.wait_for_selector(header)
    days = page.eval_on_selector_all(header, "cells => cells.slice(0, 7).map(c => c.innerText.trim())")
    page.keyboard.press("Escape")
    return days


@pytest.mark.server
def test_waiting_state_and_error_banner_when_the_stream_is_silent(start_server, browser):
    server = start_server({"LINEWATCH_SIM_RATE": "0.1"})  # first reading after ~10 s
    page = browser.new_page(locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(server.url))
    page.wait_for_selector(f"#{ids.CHART} .js-plotly-plot")
    page.wait_for_timeout(1500)  # time passing IS the check: still waiting, no error, while nothing arrives
    assert page.is_visible(f"#{ids.WAITING_OVERLAY}")
    assert text(page, ids.KPI_STATUS) == "Waiting for data…"
    assert text(page, ids.ALERTS).endswith("No alarms in the current window")
    assert console.entries == []
    page.close()


@pytest.fixture
def in_process_server(dash_app):
    """The app served from this test process, so a test can break its parts on purpose."""
    port = free_port()
    server = make_server("127.0.0.1", port, dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", dash_app.server.extensions["linewatch"]
    server.shutdown()


def test_a_failing_tick_shows_a_banner_and_the_page_recovers(in_process_server, browser, monkeypatch):
    url, runtime = in_process_server
    page = browser.new_page(locale="en-US")
    console = ConsoleLog(page)
    page.goto(line_url(url))
    wait_text(page, ids.KPI_STATUS, "Live")
    wait_points(page, 0)  # the chart is drawn (plotly loads after the KPI cards on a busy machine)

    def broken(*args, **kwargs):
        raise OSError("store read failed")

    with monkeypatch.context() as patch:
        patch.setattr(runtime.store, "since", broken)
        page.wait_for_selector(f"#{ids.ERROR_BANNER}", state="visible")
        assert text(page, ids.ERROR_BANNER) == "Error: OSError: store read failed"
        stuck = chart_points(page)
    page.wait_for_selector(f"#{ids.ERROR_BANNER}", state="hidden")
    wait_points(page, stuck)
    wait_text(page, ids.KPI_STATUS, "Live")
    assert console.entries == []
    page.close()
