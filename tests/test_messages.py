"""Alarm message wording: English templates the detectors fill, read back as key + figures, translated per key."""

import re

import numpy as np
import pytest

from app.alarms import RaisedAlarm
from app.detectors import DetectorConfig, LineDetector, SpcConfig
from app.detectors.messages import TEMPLATES, parse, render
from app.i18n import TEXT
from callbacks.tick import alarm_payload

FIGURES = {"value": "-1.5e+06", "score": "0.91", "prob_threshold": "0.5", "value_threshold": "12.5",
           "rule": "nelson-1", "centre": "85.0312", "sigma": "0.402", "limit": "100", "readings": "12"}


def placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", template))


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_message_reads_back_as_its_key_and_figures(key):
    figures = {name: FIGURES[name] for name in placeholders(TEMPLATES[key])}
    assert parse(render(key, **figures)) == (key, figures)


def test_other_text_is_not_read_as_a_message():
    assert parse("value 3 is anomalous") is None
    assert parse("defect probability above 0.5 and more") is None
    assert parse("") is None


@pytest.mark.parametrize("lang", sorted(TEXT))
def test_every_language_words_every_message_with_the_same_figures(lang):
    for key, template in TEMPLATES.items():
        assert placeholders(TEXT[lang][key]) == placeholders(template), (lang, key)
    assert {TEXT["en"][key] for key in TEMPLATES} == set(TEMPLATES.values())  # English is the detectors' own


def test_the_detector_events_messages_read_back():
    rng = np.random.default_rng(2)
    x = 85 + rng.normal(0, 0.4, 400)
    x[300] = 120.0
    config = DetectorConfig(spc=SpcConfig(rules=frozenset({"we-1"})), value_threshold=1.0)
    out = LineDetector(config).process(1.7e9 + 60.0 * np.arange(400), x, np.where(np.arange(400) == 350, 0.9, np.nan))
    keys = {e.rule: parse(e.message)[0] for e in out.events}
    assert keys == {"score": "alarm_score", "we-1": "alarm_spc", "threshold": "alarm_threshold_value"}


def test_the_page_gets_key_and_figures_beside_the_english_message():
    message = render("alarm_score", value="120", score="0.91")
    alarm = RaisedAlarm("oven-3/7/score", "oven-3", 7, 1.7e9, "score", "critical", 120.0, message)
    payload = alarm_payload(alarm)
    assert payload["message"] == "value 120 is anomalous (score 0.91)"
    assert (payload["key"], payload["figures"]) == ("alarm_score", {"value": "120", "score": "0.91"})
    assert TEXT["zh"][payload["key"]].format(**payload["figures"]) == "数值 120 异常（评分 0.91）"
    written_elsewhere = alarm._replace(message="operator note")
    assert "key" not in alarm_payload(written_elsewhere) and alarm_payload(written_elsewhere)["message"] == "operator note"
