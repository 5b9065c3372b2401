"""The page's tick and page callbacks as requests: built, posted over HTTP, and read."""

from __future__ import annotations

import json
import urllib.request

from app.points import DEFAULT_LINE
from layouts import ids


def tick_request(n, cursor, window=1000, trigger=ids.TICK_INTERVAL, alarm_version=None, line=DEFAULT_LINE,
                 lines_version=None) -> dict:
    """The body ``line``'s page posts to ``/_dash-update-component`` for tick ``n`` from ``cursor``, its
    alarm bar showing the summary ``alarm_version`` and its picker the lines ``lines_version`` (None: none yet)."""
    prop = "n_intervals" if trigger == ids.TICK_INTERVAL else "value"
    return {
        "output": f"{ids.TICK}.data",
        "outputs": {"id": ids.TICK, "property": "data"},
        "inputs": [{"id": ids.TICK_INTERVAL, "property": "n_intervals", "value": n},
                   {"id": ids.WINDOW, "property": "value", "value": window}],
        "changedPropIds": [f"{trigger}.{prop}"],
        "state": [{"id": ids.CURSOR, "property": "data", "value": cursor},
                  {"id": ids.ALARM_VERSION, "property": "data", "value": alarm_version},
                  {"id": ids.LINE_ID, "property": "data", "value": line},
                  {"id": ids.LINES_VERSION, "property": "data", "value": lines_version}],
    }


def overview_tick_request(n, alarm_version=None) -> dict:
    """The body the plant overview posts for its tick ``n``, its alarm bar showing ``alarm_version``."""
    return {"output": f"{ids.OVERVIEW_TICK}.data", "outputs": {"id": ids.OVERVIEW_TICK, "property": "data"},
            "inputs": [{"id": ids.OVERVIEW_INTERVAL, "property": "n_intervals", "value": n}],
            "changedPropIds": [f"{ids.OVERVIEW_INTERVAL}.n_intervals"],
            "state": [{"id": ids.ALARM_VERSION, "property": "data", "value": alarm_version}]}


def render_request(pathname: str, lang: str = "en", search: str = "") -> dict:
    """The body the page posts to ``/_dash-update-component`` to render the page at ``pathname?search``."""
    return {"output": f"{ids.PAGE}.children", "outputs": {"id": ids.PAGE, "property": "children"},
            "inputs": [{"id": ids.URL, "property": "pathname", "value": pathname}],
            "changedPropIds": [f"{ids.URL}.pathname"],
            "state": [{"id": ids.URL, "property": "search", "value": search},
                      {"id": ids.LANG, "property": "data", "value": lang}]}


def post_tick(base: str, n: int, cursor) -> dict:
    """Tick ``n`` from ``cursor`` against a running server at ``base``; the tick's data."""
    request = urllib.request.Request(base + "/_dash-update-component", data=json.dumps(tick_request(n, cursor)).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["response"][ids.TICK]["data"]


def seqs(tick: dict) -> list[int]:
    """The sequence ids a tick carries (contiguous from ``first``)."""
    return list(range(tick["first"], tick["first"] + len(tick["ts"]))) if tick["ts"] else []
