"""The alarm bar, list and performance panel: pure builders and callbacks as plain functions over a book."""

from __future__ import annotations

from functools import partial

import pytest

from app.alarm_book import QUERY_STATES, AlarmBook, LedgerUnavailable, MemoryLedger
from app.alarm_lifecycle import Action, AlarmDesign, State
from app.alarms import AlarmDraft
from app.config import Config
from app.i18n import TEXT, labels as labels_of
from app.policy import NotAnOperator
from app.web import create_app
from callbacks.alarm_actions import act
from callbacks.alarm_list import alarm_journal, alarm_list, performance, selected_id
from callbacks.tick import alarm_bar
from layouts import ids, line_page
from layouts.alarm_bar import PRIORITY_SHAPES, priority_text
from layouts.alarm_list import ALL_LINES
from layouts.alarm_performance import duration_text, figure_rows
from tests.helpers.alarms import Clock
from tests.helpers.alarms import raised as raised_at
from tests.helpers.components import find, walk
from tests.helpers.ticks import render_request, tick_request

EN, ZH = TEXT["en"], TEXT["zh"]


raised = partial(raised_at, ts=9_000.0)


@pytest.fixture
def clock():
    return Clock(10_000.0)


@pytest.fixture
def book(clock):
    designs = {("press", "we-1"): AlarmDesign(priority=1)}
    return AlarmBook(MemoryLedger(), lambda line, rule: designs.get((line, rule), AlarmDesign()), clock=clock)


def operator():
    return "alice"


def viewer():
    raise NotAnOperator("bob may view alarms but not act on them")


def texts(component) -> str:
    """Every string in a component tree, joined."""
    if isinstance(component, (str, int, float)):
        return str(component)
    children = getattr(component, "children", None)
    return " ".join(texts(c) for c in (children if isinstance(children, list) else [children]) if c is not None)


# --- the alarm bar -------------------------------------------------------------------------


def test_the_tick_carries_the_alarm_bar_only_when_its_summary_changed(book):
    empty = alarm_bar(book.summary(), None)
    assert empty["unacknowledged"] == {"1": 0, "2": 0, "3": 0, "4": 0} and empty["newest"] is None
    assert alarm_bar(book.summary(), empty["version"]) is None  # the page shows it already
    [step] = book.raised([raised()])
    bar = alarm_bar(book.summary(), empty["version"])
    assert bar["unacknowledged"]["3"] == 1 and bar["version"] != empty["version"]
    assert bar["newest"] == {"id": step.record.id, "line": "oven", "rule": "score", "priority": 3, "ts": 9_000.0,
                             "announced": 10_000.0, "message": "value 91.5 is anomalous (score 0.8)",
                             "key": "alarm_score", "figures": {"value": "91.5", "score": "0.8"}}  # a lean tick, worded
    # by the page in its language
    book.acknowledge(step.record.id, "alice")
    assert alarm_bar(book.summary(), bar["version"])["newest"] is None


def test_the_dash_tick_brings_the_alarm_bar_in_its_one_request(client, dash_app):
    book = dash_app.server.extensions["linewatch"].alarm_book
    book.raised([raised()])
    first = client.post("/_dash-update-component", json=tick_request(1, None)).get_json()
    bar = first["response"][ids.TICK]["data"]["alarm_bar"]
    assert bar["unacknowledged"]["3"] == 1
    again = client.post("/_dash-update-component", json=tick_request(2, None, alarm_version=bar["version"])).get_json()
    assert "alarm_bar" not in again["response"][ids.TICK]["data"]


def test_the_bar_tells_priority_by_shape_and_text_and_sound_starts_off():
    layout = line_page(Config(), EN)
    badges = [find(layout, ids.ALARM_BADGES[p]) for p in (1, 2, 3, 4)]
    assert [texts(b) for b in badges] == ["◆ P1 0", "▲ P2 0", "■ P3 0", "● P4 0"]
    assert len(set(PRIORITY_SHAPES.values())) == 4
    assert all("lw-prio-on" not in b.className for b in badges)  # neutral until something counts
    assert find(layout, ids.ALARM_SOUND).value is False
    assert find(layout, ids.ALARM_ACK_NEWEST).disabled is True
    assert find(line_page(Config(), EN, shelve_max_minutes=90), ids.ALARM_MINUTES).max == 90
    assert priority_text(ZH, 1) == "1级 ◆ 紧急"


def test_the_page_shelves_for_at_most_the_configured_maximum(tmp_path):
    dash_app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path), "LINEWATCH_SHELVE_MAX_MINUTES": "90"}))
    try:
        page = dash_app.server.test_client().post("/_dash-update-component", json=render_request("/line/line-1")).get_json()
        [minutes] = [c for c in walk(page["response"][ids.PAGE]["children"]) if c.get("id") == ids.ALARM_MINUTES]
        assert minutes["max"] == 90
    finally:
        dash_app.server.extensions["linewatch"].stop()


# --- acting ---------------------------------------------------------------------------------


def test_acknowledge_with_a_comment_then_again_is_refused_in_words(book):
    [step] = book.raised([raised()])
    alarm = step.record.id
    assert act(book, operator, "acknowledge", alarm, EN, comment=" on it ") == (f"Acknowledged {alarm}.", True)
    assert act(book, operator, "acknowledge", alarm, EN) == (f"Not possible: {alarm} is now “Acknowledged”.", False)
    assert act(book, operator, "acknowledge", alarm, ZH) == (f"无法执行：{alarm} 当前为“已确认”。", False)
    journal = book.get(alarm)[1]
    assert [(e.action, e.user, e.comment) for e in journal][1:] == [("acknowledge", "alice", "on it")]


def test_a_viewer_who_is_not_an_operator_gets_one_sentence_and_nothing_changes(book):
    [step] = book.raised([raised()])
    for action in ("acknowledge", "shelve", "unshelve"):
        assert act(book, viewer, action, step.record.id, EN, reason="r", minutes=5) == (
            "You may view alarms but not act on them.", False)
    assert book.get(step.record.id)[0].state is State.UNACKNOWLEDGED


@pytest.mark.parametrize("reason, minutes, message", [
    ("", 30, "Give a reason for shelving."),
    ("sensor swap", 0, "Shelve for more than 0 and at most 480 minutes."),
    ("sensor swap", 481, "Shelve for more than 0 and at most 480 minutes."),
    ("sensor swap", None, "Shelve for more than 0 and at most 480 minutes."),
    ("sensor swap", True, "Shelve for more than 0 and at most 480 minutes."),
])
def test_a_shelf_needs_a_reason_and_a_length_within_the_books_maximum(book, reason, minutes, message):
    [step] = book.raised([raised()])
    assert act(book, operator, "shelve", step.record.id, EN, reason=reason, minutes=minutes) == (message, False)
    assert len(book.get(step.record.id)[1]) == 1  # only the raise


def test_shelve_then_unshelve_and_an_unshelve_of_an_alarm_not_shelved(book):
    [step] = book.raised([raised()])
    alarm = step.record.id
    assert act(book, operator, "unshelve", alarm, EN) == (f"Not possible: {alarm} is now “Unacknowledged”.", False)
    assert act(book, operator, "shelve", alarm, EN, reason="sensor swap", minutes=30) == (
        f"Shelved {alarm} for 30 min.", True)
    assert book.get(alarm)[0].shelved_until == 10_000.0 + 30 * 60
    assert act(book, operator, "unshelve", alarm, EN) == (f"Unshelved {alarm}.", True)
    assert act(book, operator, "acknowledge", None, EN) == ("Select an alarm in the list first.", False)
    assert act(book, operator, "acknowledge", "oven/999/score", EN) == ("There is no alarm oven/999/score.", False)


# --- reading --------------------------------------------------------------------------------


def test_the_list_filters_by_line_state_and_priority(book):
    book.raised([raised(seq=1), raised(line="press", rule="we-1", ts=9_100.0, seq=2)])
    [acked] = book.raised([raised(line="press", ts=9_200.0, seq=3)])
    book.acknowledge(acked.record.id, "alice")
    rows, options = alarm_list(book, ALL_LINES, "all", [1, 2, 3, 4], EN)
    assert sorted(r["id"] for r in rows) == ["oven/1/score", "press/2/we-1", "press/3/score"]
    assert [o["value"] for o in options] == [ALL_LINES, "oven", "press"] and options[0]["label"] == "All lines"
    assert [r["id"] for r in alarm_list(book, "press", "unacknowledged", [1, 2, 3, 4], EN)[0]] == ["press/2/we-1"]
    assert [r["id"] for r in alarm_list(book, ALL_LINES, "all", [1], EN)[0]] == ["press/2/we-1"]
    row = next(r for r in rows if r["id"] == "press/2/we-1")
    assert row["priorityText"] == "P1 ◆ Emergency" and row["stateText"] == "Unacknowledged"
    assert row["unacknowledged"] and row["ruleText"] == "Western Electric rule" and row["raised"] == 9_100.0
    done = next(r for r in rows if r["id"] == "press/3/score")
    assert done["stateText"] == "Acknowledged" and done["acknowledgedBy"] == "alice" and not done["unacknowledged"]
    # whatever a request sends, an answer: an unknown line shows nothing but stays selectable
    rows, options = alarm_list(book, "kiln", "all", "junk", EN)
    assert rows == [] and "kiln" in [o["value"] for o in options]
    assert alarm_list(book, ["x"], "no-such-state", [[1], 3], EN)[0] != []


def test_a_chattering_alarm_is_one_row_with_its_count(book):
    for n, ts in enumerate((9_000.0, 9_010.0, 9_020.0)):
        book.raised([raised(ts=ts, seq=n)])
        book.returned("oven", "score", ts + 1)
    [row] = alarm_list(book, ALL_LINES, "all", [1, 2, 3, 4], EN)[0]
    assert row["countText"] == "3 · chattering"


def test_the_journal_of_the_selected_alarm_in_words(book, clock):
    [step] = book.raised([raised()])
    clock.now += 60
    book.shelve(step.record.id, "alice", "sensor swap", 10)
    rows, heading = alarm_journal(book, selected_id([{"id": step.record.id}]), ZH)
    assert heading == f"{step.record.id} · 3级 ■ 中 · 已搁置"
    assert [(r["actionText"], r["user"], r["comment"], r["stateText"]) for r in rows] == [
        ("触发", "", ZH["alarm_score"].format(value="91.5", score="0.8"), "未确认"),
        ("搁置", "alice", "sensor swap", "已搁置")]  # the detector's message worded in Chinese, the operator's as typed
    assert rows[1]["at"] == 10_060.0
    assert alarm_journal(book, selected_id([]), EN) == ([], EN["alarm_select"])
    assert alarm_journal(book, "oven/9/score", EN) == ([], "There is no alarm oven/9/score.")
    assert selected_id("junk") is selected_id([{"id": 5}]) is None


def test_every_state_action_and_filter_has_words_in_both_languages():
    for lang in (EN, ZH):
        assert all(f"alarm_state_{state.value}" in lang for state in State)
        assert all(f"alarm_action_{action.value}" in lang for action in Action)
        assert all(f"alarm_filter_{state}" in lang for state in QUERY_STATES)
    assert EN["alarm_state_shelved"] != ZH["alarm_state_shelved"]


# --- performance ----------------------------------------------------------------------------


def test_performance_shows_both_periods_and_marks_figures_beyond_target(book, clock):
    for n in range(12):  # 12 alarms announced in one 10-minute interval: a flood
        book.raised([raised(rule=f"we-{n}", ts=clock.now - 300 + n, seq=n)])
    view = performance(book, EN, clock.now)
    table = texts(view)
    assert "Last 24 h" in table and "Last 7 days" in table and "Top 10 bad actors, Last 24 h" in table
    rows = figure_rows(EN, book.figures(clock.now - 86_400, clock.now).to_dict())
    assert rows[0] == ("Alarms announced", "12", False)
    assert rows[1] == ("Alarms per 10 min (target ≤ 1, flood > 10)", "0.08", False)  # 12 in 144 intervals
    hour = figure_rows(EN, book.figures(clock.now - 3_600, clock.now).to_dict())
    assert hour[1] == ("Alarms per 10 min (target ≤ 1, flood > 10)", "2.00", True)
    assert rows[2] == ("Peak 10-minute count", "12", True)
    assert rows[3][1] == "0.7 %" and rows[3][2] is True  # one of 144 intervals
    assert rows[6] == ("Acknowledge time, median / 90th percentile", "— / —", False)
    assert "近 7 天" in texts(performance(book, ZH, clock.now))


def test_durations_read_in_seconds_minutes_or_hours():
    assert [duration_text(EN, s) for s in (None, 42, 600, 9_000)] == ["—", "42 s", "10.0 min", "2.5 h"]
    assert duration_text(ZH, 42) == "42 秒"


def test_the_list_words_messages_in_the_pages_language(book):
    book.raised([raised()])
    [english] = alarm_list(book, ALL_LINES, "all", [1, 2, 3, 4], labels_of("en"))[0]
    [chinese] = alarm_list(book, ALL_LINES, "all", [1, 2, 3, 4], labels_of("zh"))[0]
    assert english["message"] == "value 91.5 is anomalous (score 0.8)"
    assert chinese["message"] == labels_of("zh")["alarm_score"].format(value="91.5", score="0.8") != english["message"]


class RefusingLedger(MemoryLedger):
    """A ledger whose storage is away (a full disk, Redis down)."""

    def change(self, alarm_id, change):
        raise LedgerUnavailable("history not writable: disk full")

    def record(self, alarm_id):
        raise LedgerUnavailable("history not writable: disk full")


def test_a_ledger_that_refuses_is_one_sentence_on_the_page(clock):
    book = AlarmBook(RefusingLedger(), clock=clock)
    book.raised([raised()])
    message, acted = act(book, operator, "acknowledge", "oven/1/score", labels_of("en"))
    assert (message, acted) == ("Alarms cannot be read or changed right now: history not writable: disk full", False)
    assert alarm_journal(book, "oven/1/score", labels_of("zh")) == (
        [], "暂时无法读取或更改报警：history not writable: disk full")
