"""The page in real headless Chromium: live points, thresholds, pause, languages, clean console."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from layouts import ids
from tests.helpers.browser import ConsoleLog
from tests.helpers.page import chart_points, check_live_page, seed_history, text, wait_points, wait_text
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
def test_chinese_page_renders_and_dark_theme_applies(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    console = ConsoleLog(page)
    page.goto(server.url)
    wait_text(page, ids.KPI_STATUS, "实时")
    assert "实时缺陷监测" in page.inner_text("header")
    assert text(page, ids.PAUSE_BUTTON) == "停止监控"
    # the CJK glyphs come from an installed font, not the fallback box
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '20px "Noto Sans CJK SC"'; return c.measureText('实时缺陷').width; }""")
    assert width > 60
    page.click("a.lw-lang")  # the header link switches language and it sticks
    wait_text(page, ids.PAUSE_BUTTON, "Pause")
    assert "Live defect monitoring" in page.inner_text("header")
    page.click(f"label[for={ids.THEME_SWITCH}]")
    page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(28, 31, 35)"
    assert console.entries == []
    page.close()


@pytest.mark.server
def test_waiting_state_and_error_banner_when_the_stream_is_silent(start_server, browser):
    server = start_server({"LINEWATCH_SIM_RATE": "0.1"})  # first reading after ~10 s
    page = browser.new_page(locale="en-US")
    console = ConsoleLog(page)
    page.goto(server.url)
    page.wait_for_selector(f"#{ids.CHART} .js-plotly-plot")
    page.wait_for_timeout(1500)  # time passing IS the check: still waiting, no error, while nothing arrives
    assert page.is_visible(f"#{ids.WAITING_OVERLAY}")
    assert text(page, ids.KPI_STATUS) == "Waiting for data…"
    assert text(page, ids.ALERTS).endswith("No anomalies in the current window")
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
    page.goto(url)
    wait_text(page, ids.KPI_STATUS, "Live")

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
