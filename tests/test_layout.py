"""Pure layout and figure builders, and the language choice."""

from dash.development.base_component import Component

from app.config import Config
from app.i18n import TEXT, choose_lang
from app.lines import LineSpec
from app.points import Thresholds
from layouts import build_layout, ids, line_page, overview_page
from layouts.alerts import alarm_columns
from layouts.chart import build_figure, graph_config
from layouts.sidebar import slider_range
from tests.helpers.components import find

LABELS = TEXT["en"]


def all_ids(component) -> set[str]:
    found = set()
    if isinstance(component, Component):
        if getattr(component, "id", None):
            found.add(component.id)
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children]:
            found |= all_ids(child)
    return found


def test_frame_and_line_page_have_every_component_the_callbacks_use():
    shown = (all_ids(build_layout(Config(transport="push"), "en", LABELS, "zh"))  # the push note too
             | all_ids(line_page(Config(), LABELS)) | all_ids(overview_page(Config(), LABELS)))
    expected = {value for name, value in vars(ids).items() if name.isupper() and isinstance(value, str)}
    assert expected <= shown


OVEN = LineSpec("line-1", name="Oven 3 temperature", unit="°C", lsl=70, usl=100, target=85)



def label_of(layout, component_id) -> str:
    """The text of the field label above a control."""
    def walk(component):
        children = getattr(component, "children", None)
        if isinstance(children, list) and any(getattr(c, "id", None) == component_id for c in children):
            return children[0].children
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, Component) and (found := walk(child)) is not None:
                return found
        return None
    return walk(layout)


def test_figure_has_streaming_traces_on_two_axes_and_threshold_lines():
    figure = build_figure(LABELS, Thresholds(0.7, 0.4))
    value, prob, anomalies, alarms = figure["data"]
    assert [t["name"] for t in figure["data"]] == ["Value", "Defect probability", "Anomaly", "Alarm"]
    assert prob["yaxis"] == "y2" and "yaxis" not in value and "yaxis" not in alarms
    assert all(t["x"] == [] and t["marker"]["color"] == [] and t["text"] == [] for t in figure["data"])  # empty until the browser draws the window
    assert anomalies["mode"] == "markers" and anomalies["marker"]["cmax"] == 1
    assert alarms["mode"] == "markers" and "%{text}" in alarms["hovertemplate"]
    layout = figure["layout"]
    assert layout["xaxis"]["type"] == "date" and "tickformat" not in layout["xaxis"]
    assert layout["yaxis"]["title"]["text"] == "Value"  # no unit, no brackets
    assert layout["uirevision"]
    value_line, prob_line = layout["shapes"]  # no limits configured: no limit lines
    assert (value_line["name"], value_line["yref"], value_line["y0"]) == ("value-threshold", "y", 0.4)
    assert (prob_line["name"], prob_line["yref"], prob_line["y0"]) == ("prob-threshold", "y2", 0.7)
    assert layout["annotations"][0]["text"] == "value threshold 0.400"
    assert layout["annotations"][1]["text"] == "probability threshold 0.70"
    assert layout["annotations"][-1]["text"] == "Time" and "title" not in layout["xaxis"]  # see X_TICK_LABELS


def test_figure_of_a_line_with_a_unit_and_limits():
    figure = build_figure(LABELS, Thresholds(0.5, 95), OVEN)
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "Value (°C)"
    limits = {s["name"]: s for s in layout["shapes"][2:]}
    assert {name: s["y0"] for name, s in limits.items()} == {"lsl": 70, "usl": 100, "target": 85}
    assert all(s["yref"] == "y" and s["line"]["width"] <= 1 for s in limits.values())  # thin
    assert limits["lsl"]["line"]["color"] == limits["usl"]["line"]["color"] != layout["shapes"][0]["line"]["color"]
    assert [a["text"] for a in layout["annotations"]] == [
        "value threshold 95.00 °C", "probability threshold 0.50", "LSL 70.00 °C", "USL 100.0 °C", "target 85.00 °C",
        "Time"]
    assert build_figure(TEXT["zh"], Thresholds(0.5, 95), OVEN)["layout"]["yaxis"]["title"]["text"] == "检测值 (°C)"



def test_the_chart_speaks_the_page_language_and_shares_nothing_with_a_cloud():
    zh, en = graph_config(TEXT["zh"]), graph_config(LABELS)
    assert en["locale"] == "en-US" and zh["locale"] == "zh-CN"  # en-US is plotly's own
    assert zh["locales"]["zh-CN"]["format"]["shortMonths"][11] == "12月"
    assert zh["locales"]["zh-CN"]["dictionary"]["Zoom"] == "缩放"
    assert zh["showSendToCloud"] is en["showSendToCloud"] is False

def test_value_slider_in_the_line_unit_with_its_range_from_the_limits():
    config = Config(lines=(OVEN,), value_threshold=0.5)
    layout = line_page(config, LABELS)
    slider = find(layout, ids.VALUE_THRESHOLD)
    assert label_of(layout, ids.VALUE_THRESHOLD) == "Value threshold (°C)"
    assert (slider.min, slider.max, slider.step) == (65, 105, 0.5)
    assert slider.value == 65  # the deployment default (0.5) lies below the range: clamped into it
    assert set(slider.marks) == {"70", "80", "90", "100"}
    assert find(layout, ids.LINE).data == {"unit": "°C", "lsl": 70, "usl": 100}
    own = line_page(Config(lines=(LineSpec("line-1", unit="°C", lsl=70, usl=100, value_threshold=92),)), TEXT["zh"])
    assert find(own, ids.VALUE_THRESHOLD).value == 92
    assert label_of(own, ids.VALUE_THRESHOLD) == "数值阈值 (°C)"


def test_value_slider_without_unit_or_limits_starts_around_the_default():
    layout = line_page(Config(value_threshold=0.5), LABELS)
    slider = find(layout, ids.VALUE_THRESHOLD)
    assert label_of(layout, ids.VALUE_THRESHOLD) == "Value threshold"
    assert slider.min < 0.5 < slider.max and slider.value == 0.5 and slider.max - slider.min < 1
    assert find(layout, ids.LINE).data == {"unit": "", "lsl": None, "usl": None}
    one_limit = find(line_page(Config(lines=(LineSpec("line-1", unit="mm", lsl=2.0),), value_threshold=0.5), LABELS),
                     ids.VALUE_THRESHOLD)
    assert one_limit.min <= 0.5 == one_limit.value and one_limit.max >= 2  # the browser widens it to the data


def test_slider_range_is_the_one_the_browser_computes():
    """Same numbers as tests/js (assets/linewatch.js sliderRange): the two sides agree."""
    assert slider_range(70, 100) == {"min": 65, "max": 105, "step": 0.5,
                                     "marks": {"70": "70", "80": "80", "90": "90", "100": "100"}}
    assert [slider_range(0.35, 0.85)[k] for k in ("min", "max", "step")] == [0.3, 0.9, 0.01]
    assert [slider_range(1200, 5300)[k] for k in ("min", "max", "step")] == [500, 6000, 100]


def test_alarm_table_columns_say_the_unit_and_highlight_critical():
    time, rule, severity, value, message = alarm_columns(LABELS, "°C")
    assert [c["field"] for c in (time, rule, severity, value, message)] == [
        "time", "rule", "severity", "value", "message"]
    assert time["sort"] == "desc"
    assert value["headerName"] == "Value (°C)" and '"°C"' in value["valueFormatter"]["function"]
    assert "critical" in severity["cellClassRules"]["lw-cell-critical"]
    assert alarm_columns(LABELS, "")[3]["headerName"] == "Value"
    grid = find(line_page(Config(), LABELS), ids.ALERTS)
    assert grid.getRowId == "params.data.id"
    assert grid.csvExportParams["fileName"] == "linewatch-alarms.csv"
    assert grid.dashGridOptions["localeText"]["noRowsToShow"] == "No alarms in the current window"


def test_chinese_labels_cover_every_english_key():
    assert TEXT["zh"].keys() == TEXT["en"].keys()
    figure = build_figure(TEXT["zh"], Thresholds(0.5, 0.5))
    assert [t["name"] for t in figure["data"][2:]] == ["异常检测点", "报警"]


def test_language_choice():
    assert choose_lang("auto", None, ["zh-CN", "en"]) == "zh"
    assert choose_lang("auto", None, ["fr", "en-GB"]) == "en"
    assert choose_lang("auto", None, []) == "en"
    assert choose_lang("zh", None, ["en"]) == "zh"
    assert choose_lang("zh", "en", ["zh"]) == "en"
    assert choose_lang("en", "xx", []) == "en"


def test_page_language_follows_the_browser(client):
    page = client.get("/_dash-layout", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_json()
    assert page["props"]["lang"] == "zh"
    english = client.get("/_dash-layout?lang=en", headers={"Accept-Language": "zh-CN"}).get_json()
    assert english["props"]["lang"] == "en"


def test_a_language_picked_on_the_page_sticks_for_the_layout_request(client):
    client.get("/?lang=zh", headers={"Accept-Language": "en"})
    page = client.get("/_dash-layout", headers={"Accept-Language": "en"}).get_json()
    assert page["props"]["lang"] == "zh"


def test_a_line_page_links_back_to_the_overview_under_the_prefix():
    def links(component) -> list:
        found = [component] if getattr(component, "href", None) is not None else []
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, Component):
                found += links(child)
        return found

    page = line_page(Config(url_prefix="/plant/linewatch/"), TEXT["zh"])
    back = [a for a in links(page) if getattr(a, "className", None) == "lw-to-overview"]
    assert [(a.href, a.children) for a in back] == [("/plant/linewatch/", "← 全厂总览")]
