"""Embedding in real headless Chromium: under a URL prefix behind proxies that keep or strip
it, in the example portal's iframe from another origin (allowed, and refused), mounted in
the portal's own Flask app.  One LineWatch, one portal and two proxies serve the module."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest

from layouts import ids
from tests.helpers.browser import ConsoleLog, wait_for_function
from tests.helpers.page import check_live_page, seed_history
from tests.helpers.processes import ServerProcess, free_port
from tests.helpers.proxy import ReverseProxy
from tests.helpers.ticks import tick_request
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.server  # every test uses the module's deployment: LineWatch and the portal

PREFIX = "/tools/linewatch/"


def feed(url: str, stop: threading.Event) -> None:
    """10 calm readings a second through the ingest API: a steady stream without random bursts,
    so the page test's counts of anomalies (the seeded ones) hold."""
    while not stop.wait(0.1):
        request = urllib.request.Request(url, data=json.dumps([{"value": 0.4, "defect_prob": 0.05}]).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5).read()
        except OSError:
            pass  # the server is stopping


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """LineWatch under PREFIX behind a keeping and a stripping proxy, fed over HTTP; the portal on
    127.0.0.1 frames it (through the keeping proxy, at localhost: another origin) in Chinese, embed mode."""
    tmp = tmp_path_factory.mktemp("embedding")
    seed_history(tmp / "data")  # LineWatch starts with the history the page test expects
    keep, strip = ReverseProxy(PREFIX, strip=False), ReverseProxy(PREFIX, strip=True)
    portal_port, app_port = free_port(), free_port()
    embed_url = f"http://localhost:{keep.port}{PREFIX}line/line-1?embed=1&lang=zh"
    portal = ServerProcess([sys.executable, "examples/portal/app.py", "--port", str(portal_port),
                            "--embed-url", embed_url],
                           {"LINEWATCH_DATA_DIR": str(tmp / "portal-data"), "LINEWATCH_SIM_RATE": "10"},
                           portal_port, tmp / "portal.log")
    linewatch = ServerProcess([sys.executable, "-m", "app", "--port", str(app_port)],
                              {"LINEWATCH_DATA_DIR": str(tmp / "data"), "LINEWATCH_SOURCE": "http",
                               "LINEWATCH_URL_PREFIX": PREFIX, "LINEWATCH_TRUSTED_PROXIES": "1",
                               "LINEWATCH_FRAME_ANCESTORS": f"'self' http://127.0.0.1:{portal_port}"},
                              app_port, tmp / "linewatch.log")
    stop = threading.Event()
    try:
        portal.wait_ready("/linewatch/healthz")
        linewatch.wait_ready(PREFIX + "healthz")
        threading.Thread(target=feed, args=(linewatch.url + PREFIX + "api/v1/points", stop), daemon=True).start()
        keep.upstream = strip.upstream = f"127.0.0.1:{app_port}"
        yield SimpleNamespace(keep=keep, strip=strip, portal=portal, linewatch=linewatch)
    finally:
        stop.set()
        for server in (portal, linewatch):
            server.stop()
        keep.close()
        strip.close()


def newest_x(target) -> float:
    """The chart's newest reading (its x), 0 before the chart is drawn."""
    return target.evaluate(f"document.querySelector('#{ids.CHART} .js-plotly-plot')?.data?.[0].x.at(-1) ?? 0")


def wait_live(target, status: str = "Live") -> None:
    """The status card says ``status`` and points keep arriving (a newer one is drawn: once the
    window is full, the count of points drawn stays)."""
    wait_for_function(target, "([id, text]) => document.getElementById(id)?.innerText.trim() === text",
                      [ids.KPI_STATUS, status], timeout=20_000)
    before = newest_x(target)
    wait_for_function(target, f"(x) => document.querySelector('#{ids.CHART} .js-plotly-plot')?.data[0].x.at(-1) > x",
                      before, timeout=10_000)


@pytest.mark.browser
def test_the_whole_page_test_passes_behind_the_stripping_proxy(deployment, browser, tmp_path):
    """Thresholds, table, CSV export, zoom, pause: tests/test_browser.py's page test, under the prefix
    (first, on a fresh server, as there)."""
    check_live_page(SimpleNamespace(url=deployment.strip.url + PREFIX), browser, tmp_path)


@pytest.mark.browser
@pytest.mark.parametrize("style", ["keep", "strip"])
def test_the_page_works_under_a_prefix_behind_either_kind_of_proxy(deployment, browser, style):
    proxy = getattr(deployment, style)
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    console = ConsoleLog(page)
    seen = len(proxy.requests)
    page.goto(proxy.url + PREFIX + "line/line-1")
    wait_live(page)
    # every script, stylesheet and callback went through the proxy, under the prefix
    resources = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(url.startswith(proxy.url + PREFIX) for url in resources), resources
    upstream = proxy.requests[seen:]
    assert any(path.split("?")[0].endswith("_dash-update-component") for path in upstream)
    assert all(path.startswith(PREFIX) == (style == "keep") for path in upstream), upstream
    # the language link is relative: it stays under the prefix and behind the proxy
    page.click("a.lw-lang")
    wait_for_function(page, "() => document.querySelector('header')?.innerText.includes('实时缺陷监测')")
    assert page.url == proxy.url + PREFIX + "line/line-1?lang=zh"
    wait_live(page, "实时")
    assert console.entries == []
    page.close()


@pytest.mark.browser
def test_the_portal_frames_linewatch_from_another_origin_in_embed_mode(deployment, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(f"http://127.0.0.1:{deployment.portal.port}/embedded")
    frame = page.frame_locator("#linewatch")
    frame.locator(f"#{ids.KPI_STATUS}").wait_for()
    inner = next(f for f in page.frames if f.url.startswith(f"http://localhost:{deployment.keep.port}{PREFIX}"))
    wait_live(inner, "实时")  # ?lang=zh reached the layout although the cross-site frame keeps no cookie
    assert inner.evaluate("document.documentElement.classList.contains('lw-embed')")
    assert frame.locator("header.lw-header").is_hidden()  # embed mode: no header chrome
    for control in (ids.PROB_THRESHOLD, ids.PAUSE_BUTTON, ids.PERIOD):  # the controls stay
        assert frame.locator(f"#{control}").is_visible()
    # a range in the tile: loaded through the proxy under the prefix; the frame's address keeps embed and lang
    frame.locator(f"#{ids.RANGE_PICK} label", has_text="最近 1 小时").click()
    wait_for_function(inner, "(id) => document.getElementById(id)?.innerText.includes('个读数')", ids.RANGE_STATUS)
    assert parse_qs(inner.evaluate("location.search")[1:]) == {"embed": ["1"], "lang": ["zh"], "range": ["1h"]}
    page.screenshot(path="/tmp/portal.png")
    assert console.entries == []
    page.close()


@pytest.mark.browser
def test_an_origin_not_in_frame_ancestors_gets_an_empty_frame(deployment, browser):
    page = browser.new_page(locale="en-US")
    console = ConsoleLog(page)
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "frame-ancestors" in message.text else None)
    page.goto(f"http://localhost:{deployment.portal.port}/embedded")  # localhost is not 127.0.0.1
    in_page = {"sleep": lambda s: page.wait_for_timeout(s * 1000)}  # the page's events arrive while it waits
    wait_until(lambda: refused, 10, "the browser's frame-ancestors refusal in the console", **in_page)
    assert f"http://127.0.0.1:{deployment.portal.port}" in refused[0], console.entries  # the policy applied
    frame = next(f for f in page.frames if f is not page.main_frame)
    wait_until(lambda: frame.url and not frame.url.startswith(f"http://localhost:{deployment.keep.port}"), 5,
               "an error page in the frame instead of LineWatch", **in_page)
    assert frame.evaluate(f"document.getElementById('{ids.KPI_STATUS}')") is None
    page.close()


@pytest.mark.browser
def test_linewatch_mounted_in_the_portal_app(deployment, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    console = ConsoleLog(page)
    page.goto(f"http://127.0.0.1:{deployment.portal.port}/")
    page.click("nav >> text=LineWatch (mounted)")
    raise_alarm = urllib.request.Request(  # the overview's tick brings the alarm bar of every page
        f"http://127.0.0.1:{deployment.portal.port}/linewatch/api/v1/points", method="POST",
        data=json.dumps({"value": 0.9, "defect_prob": 0.99, "line": "portal-check"}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(raise_alarm, timeout=10).close()
    page.wait_for_function(f"document.getElementById('{ids.ALARM_NEWEST}').textContent.includes('portal-check')")
    page.click(f"#{ids.OVERVIEW_TILES} a[href='/linewatch/line/line-1']")  # the overview's tile of line-1
    wait_live(page)
    assert page.url == f"http://127.0.0.1:{deployment.portal.port}/linewatch/line/line-1"
    assert page.is_visible("header.lw-header")  # not embedded: the full page
    assert console.entries == []
    page.close()


def test_metrics_behind_the_proxy_count_ticks_viewers_and_the_feed(deployment):
    def scrape() -> dict[str, str]:
        with urllib.request.urlopen(deployment.keep.url + PREFIX + "metrics", timeout=5) as response:
            text = response.read().decode()
        return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))

    tick = urllib.request.Request(deployment.strip.url + PREFIX + "_dash-update-component",
                                  data=json.dumps(tick_request(1, None)).encode(),
                                  headers={"Content-Type": "application/json", "User-Agent": "metrics-probe"})
    before = scrape()
    urllib.request.urlopen(tick, timeout=5).read()
    ingested = float(before["linewatch_readings_ingested_total"])
    after = wait_until(lambda: float((now := scrape())["linewatch_readings_ingested_total"]) >= ingested + 5 and now,
                       10, "the feed's next 5 points in the metrics")
    ticks = 'linewatch_ticks_total{page="line"}'
    assert float(after[ticks]) == float(before[ticks]) + 1
    assert float(after["linewatch_viewers"]) >= 1
    assert float(after['linewatch_source_state{source="http",state="running"}']) == 1
