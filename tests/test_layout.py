"""Pure layout and figure builders, and the language choice."""

from dash.development.base_component import Component

from app.config import Config
from app.i18n import TEXT, choose_lang
from app.points import Thresholds
from layouts import build_layout, ids
from layouts.chart import build_figure

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


def test_layout_has_every_component_the_callbacks_use():
    layout = build_layout(Config(), "en", LABELS, "zh")
    expected = {value for name, value in vars(ids).items() if name.isupper()}
    assert expected <= all_ids(layout)


def test_figure_has_streaming_traces_on_two_axes_and_threshold_lines():
    figure = build_figure(LABELS, Thresholds(0.7, 0.4))
    value, prob, anomalies = figure["data"]
    assert [t["name"] for t in figure["data"]] == ["Value", "Defect probability", "Anomaly"]
    assert prob["yaxis"] == "y2" and "yaxis" not in value
    assert all(t["x"] == [] and t["marker"]["color"] == [] for t in figure["data"])  # extendData-ready
    assert anomalies["mode"] == "markers" and anomalies["marker"]["cmax"] == 1
    layout = figure["layout"]
    assert layout["xaxis"]["type"] == "date" and "tickformat" not in layout["xaxis"]
    assert layout["uirevision"]
    value_line, prob_line = layout["shapes"]
    assert (value_line["yref"], value_line["y0"]) == ("y", 0.4)
    assert (prob_line["yref"], prob_line["y0"]) == ("y2", 0.7)
    assert layout["annotations"][1]["text"] == "probability threshold 0.70"


def test_chinese_labels_cover_every_english_key():
    assert TEXT["zh"].keys() == TEXT["en"].keys()
    figure = build_figure(TEXT["zh"], Thresholds(0.5, 0.5))
    assert figure["data"][2]["name"] == "异常检测点"


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
