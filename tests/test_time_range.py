"""Looking back on a line's page: the range the address names, the range bar, and a rendered page
opening in its address's range (the browser side: tests/js/linewatch_range.test.js; the whole
thing in Chromium: tests/test_time_range_browser.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from dash import html

from app.config import Config
from app.i18n import labels
from app.time_range import CALENDAR, LIVE, PRESETS, RangeChoice, calendar_days, range_choice
from callbacks.time_range import bar_for_address
from layouts import ids, line_page
from layouts.time_range import range_options, time_range_bar
from tests.helpers.components import find, walk
from tests.helpers.ticks import render_request

EN, ZH = labels("en"), labels("zh")


@pytest.mark.parametrize("search, mode, start, end", [
    ("", LIVE, None, None), (None, LIVE, None, None), ("?lang=zh&embed=1", LIVE, None, None),
    ("?range=live", LIVE, None, None), ("?range=7d&lang=zh", "7d", None, None), ("range=30d", "30d", None, None),
    ("?from=2026-11-23&to=2026-11-29", CALENDAR, "2026-11-23", "2026-11-29"),
    ("?from=2026-11-23", CALENDAR, "2026-11-23", "2026-11-23"),
    ("?to=2026-11-23", CALENDAR, "2026-11-23", "2026-11-23"),
    ("?range=1h&from=2026-11-23", "1h", None, None),  # the preset wins
])
def test_the_address_names_the_range(search, mode, start, end):
    assert range_choice(search, EN) == RangeChoice(mode, start, end)


@pytest.mark.parametrize("search, problem", [
    ("?range=week", "The address asks for the range “week”, which is not one of 1h, 1d, 7d, 30d: showing Live."),
    ("?from=2026-13-01&to=2026-11-29", "The address's day “2026-13-01” is not a date (YYYY-MM-DD): showing Live."),
    ("?from=2026-11-29&to=yesterday", "The address's day “yesterday” is not a date (YYYY-MM-DD): showing Live."),
    ("?from=2026-11-29&to=2026-11-23", "The address's first day is after its last day: showing Live."),
])
def test_an_address_naming_no_range_shows_live_and_says_why(search, problem):
    assert range_choice(search, EN) == RangeChoice(LIVE, problem=problem)


def test_the_problem_is_in_the_page_language():
    assert range_choice("?range=week", ZH).problem == "地址中的时间范围“week”不是 1h, 1d, 7d, 30d 之一：显示实时数据。"


def test_the_calendar_offers_the_address_days_else_the_last_week():
    today = date(2026, 11, 30)
    assert calendar_days(RangeChoice(CALENDAR, "2026-01-02", "2026-01-05"), today) == ("2026-01-02", "2026-01-05")
    assert calendar_days(RangeChoice("7d"), today) == ("2026-11-24", "2026-11-30")


def test_the_bar_offers_live_first_then_the_presets_then_the_calendar_in_words():
    assert [o["value"] for o in range_options(EN)] == [LIVE, *PRESETS, CALENDAR]
    assert [o["label"] for o in range_options(EN)] == ["Live", "Last hour", "Last day", "Last week", "Last 30 days",
                                                       "Dates"]
    assert [o["label"] for o in range_options(ZH)][:4] == ["实时", "最近 1 小时", "最近 1 天", "最近 7 天"]


def test_the_bar_opens_on_the_address_range():
    today = date(2026, 11, 30)
    week = time_range_bar(EN, RangeChoice("7d"), today)
    assert find(week, ids.RANGE_PICK).value == "7d"
    assert find(week, ids.RANGE).data == {"mode": "7d", "start": None, "end": None, "problem": ""}
    assert find(week, ids.RANGE_DATES_BOX).hidden is True
    assert find(week, ids.RANGE_STATUS).children == "The chart streams live."
    days = time_range_bar(EN, RangeChoice(CALENDAR, "2026-11-02", "2026-11-04"), today)
    assert find(days, ids.RANGE_DATES_BOX).hidden is False
    picker = find(days, ids.RANGE_DATES)
    assert (picker.start_date, picker.end_date) == ("2026-11-02", "2026-11-04")
    bad = time_range_bar(EN, range_choice("?range=week", EN), today)
    assert find(bad, ids.RANGE_PICK).value == LIVE
    status = find(bad, ids.RANGE_STATUS)
    assert "“week”" in status.children and "lw-range-error" in status.className


def test_the_line_page_has_the_bar_and_its_export_label(tmp_path):
    page = line_page(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path)}), EN, choice=RangeChoice("1d"),
                     today=date(2026, 11, 30))
    assert find(page, ids.RANGE_PICK).value == "1d"
    assert find(page, ids.EXPORT_HISTORY_LABEL).children == EN["history"]


def test_a_rendered_line_page_opens_in_its_address_range(dash_app):
    client = dash_app.server.test_client()
    body = render_request("/line/line-1", "zh", "?range=30d&lang=zh")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    props = {p.get("id"): p for p in walk(response.get_json()["response"][ids.PAGE]["children"]) if p.get("id")}
    assert props[ids.RANGE_PICK]["value"] == "30d"
    assert props[ids.RANGE]["data"]["mode"] == "30d"
    assert "最近 30 天" in json.dumps(props[ids.RANGE_PICK]["options"], ensure_ascii=False)


def test_back_or_forward_renders_the_bar_again_only_for_another_range():
    today = date(2026, 11, 30)
    shown = RangeChoice("7d").to_dict()
    assert bar_for_address("?lang=en&range=7d", shown, "en", today) is None  # the picker wrote it
    again = html.Div(bar_for_address("?lang=en&range=1h", shown, "en", today))
    assert find(again, ids.RANGE_PICK).value == "1h" and find(again, ids.RANGE).data["mode"] == "1h"
    days = html.Div(bar_for_address("?from=2026-11-02&to=2026-11-04", shown, "zh", today))
    assert find(days, ids.RANGE).data == {"mode": CALENDAR, "start": "2026-11-02", "end": "2026-11-04", "problem": ""}
    assert find(days, ids.RANGE_PICK).options[0]["label"] == "实时"
    assert find(days, ids.RANGE_DATES).month_format == "YYYY年M月"  # the calendar's months in the page language
    assert bar_for_address("?range=week", range_choice("?range=week", EN).to_dict(), "en", today) is None
