"""Per-line settings from LINEWATCH_LINES_FILE: units, limits, detection, alarm design; one-line errors;
GET /api/v1/lines."""

import time

import pytest

from app.alarm_lifecycle import AlarmDesign
from app.config import Config, ConfigError
from app.detectors import Delay, Hysteresis
from app.web import create_app

OVEN = """
[lines.oven-3]
name = "Oven 3 temperature"
unit = "°C"
lsl = 70
usl = 100
target = 85

[lines.oven-3.spc]
rules = ["we-1", "ewma", "cusum"]
baseline = 200

[lines.oven-3.detection]
score_threshold = 0.6
clear_after = 300

[lines.press-1]
unit = "bar"

[lines.press-1.detection]
score_threshold = false
stuck = false
"""


def config_with(tmp_path, text: str, **env) -> Config:
    path = tmp_path / "lines.toml"
    path.write_text(text, encoding="utf-8")
    return Config.from_env({"LINEWATCH_LINES_FILE": str(path), "LINEWATCH_DATA_DIR": str(tmp_path / "data"), **env})


def test_lines_file_gives_units_limits_and_spc_rules(tmp_path):
    config = config_with(tmp_path, OVEN)
    oven = config.line("oven-3")
    assert (oven.title, oven.unit, oven.lsl, oven.usl, oven.target) == ("Oven 3 temperature", "°C", 70.0, 100.0, 85.0)
    assert oven.spc.active() == ("we-1", "ewma", "cusum-up", "cusum-down") and oven.spc.baseline == 200
    detector = config.detector_for("oven-3").config
    assert (detector.score_threshold, detector.clear_after, detector.spc) == (0.6, 300, oven.spc)
    assert config.detector_for("press-1").config.score_threshold is None
    assert "stuck" in config.detector_for("oven-3").rules and "stuck" not in config.detector_for("press-1").rules
    assert config.line("press-1").title == "press-1" and config.line("press-1").unit == "bar"
    unknown = config.line("line-9")  # not in the file: works with the defaults
    assert (unknown.title, unknown.unit, unknown.spc.active()) == ("line-9", "", ())


@pytest.mark.parametrize("text, message", [
    ("[lines.oven]\nusl = 'hot'\n", "[lines.oven]: usl must be a finite number"),
    ("[lines.oven]\nlsl = 100\nusl = 70\n", "[lines.oven]: lsl (100) must be below usl (70)"),
    ("[lines.oven]\nlsl = 70\nusl = 100\ntarget = 120\n", "[lines.oven]: target (120) must lie between lsl and usl"),
    ("[lines.oven]\ncolour = 'red'\n", "[lines.oven]: unknown key 'colour'"),
    ("[lines.oven.spc]\nrules = ['nelson-9']\n", "[lines.oven.spc]: rules: unknown rule 'nelson-9'"),
    ("[lines.oven.spc]\nbaseline = 3\n", "[lines.oven.spc]: baseline must be a whole number of readings"),
    ("[lines.oven.detection]\nscore_threshold = 1.5\n", "[lines.oven.detection]: score_threshold must be between"),
    ("[lines.oven.detection]\nclear_after = 0\n", "[lines.oven.detection]: clear_after must be a whole number"),
    ("[lines.oven.detection]\nwarmup = 5\n", "[lines.oven.detection]: unknown key 'warmup'"),
    ("[lines.oven.detection]\nstuck = true\n", "[lines.oven.detection]: stuck can only be false"),
    ("[lines.oven.alarms.usl]\npriority = 1\n", "[lines.oven.alarms]: unknown key 'usl' (known: mode, or a rule "
                                                 "that judges this line: score, threshold, stuck)"),
    ("[lines.oven.alarms.we-1]\npriority = 1\n", "[lines.oven.alarms]: unknown key 'we-1'"),  # SPC is off
    ("[lines.oven.alarms]\nmode = 'paused'\n", "[lines.oven.alarms]: mode must be one of normal, suppressed, "
                                               "out-of-service"),
    ("[lines.oven.alarms.score]\npriority = 5\n", "[lines.oven.alarms.score]: priority must be 1 (most urgent)"),
    ("[lines.oven.alarms.score]\npriority = true\n", "[lines.oven.alarms.score]: priority must be 1"),
    ("[lines.oven.alarms.score]\non_delay = 0\n", "[lines.oven.alarms.score]: on_delay must be a whole number of "
                                                  "readings from 1 to 1000000, or seconds written as \"30 s\""),
    ("[lines.oven.alarms.score]\noff_delay = '30 min'\n", "[lines.oven.alarms.score]: off_delay must be"),
    ("[lines.oven.alarms.score]\noff_delay = '90000 s'\n", "(at most 86400 s)"),
    ("[lines.oven.alarms.score]\non_delay = 2.5\n", "[lines.oven.alarms.score]: on_delay must be"),
    ("[lines.oven.alarms.score]\ndeadband = 1\n", "[lines.oven.alarms.score]: deadband must be 0 or more, in the "
                                                  "line's unit, and only threshold, usl, lsl have one"),
    ("[lines.oven]\nusl = 9\n[lines.oven.alarms.usl]\ndeadband = -1\n", "[lines.oven.alarms.usl]: deadband must"),
    ("[lines.oven.alarms.score]\nrealarm_minutes = 0\n", "[lines.oven.alarms.score]: realarm_minutes must be above 0"),
    ("[lines.oven.alarms.score]\nsound = 'on'\n", "[lines.oven.alarms.score]: unknown key 'sound'"),
    ("[lines.oven]\nalarms = 3\n", "[lines.oven.alarms] must be a table"),
    ("[lines.'bad id!']\nunit = 'C'\n", '[lines."bad id!"]: a line id is 1-64 letters'),
    ("[line.oven]\nunit = 'C'\n", "unknown table [line]"),
    ("[lines.oven\n", "is not valid TOML"),
    ("", "describes no line"),
    ("[replay.columns]\nstamp = 'Zeit'\n", "[replay.columns]: unknown key 'stamp'"),
    ("[replay.columns]\nvalue = 3\n", "[replay.columns]: value must be the name of a column"),
])
def test_a_bad_lines_file_stops_with_one_line_naming_table_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        config_with(tmp_path, text)
    assert str(error.value).startswith(f"LINEWATCH_LINES_FILE='{tmp_path / 'lines.toml'}': ")
    assert message in str(error.value) and "\n" not in str(error.value)


ALARMS = """
[lines.oven-3]
unit = "°C"
lsl = 70
usl = 100

[lines.oven-3.spc]
rules = ["we-1"]

[lines.oven-3.alarms.usl]
priority = 1
on_delay = 2
off_delay = "20 s"
deadband = 2
realarm_minutes = 15

[lines.oven-3.alarms.we-1]
off_delay = 10

[lines.oven-3.alarms.threshold]
mode = "out-of-service"

[lines.press-1.alarms]
mode = "suppressed"

[lines.press-1.alarms.score]
priority = 4
"""


def test_alarm_design_per_line_and_rule(tmp_path):
    config = config_with(tmp_path, ALARMS)
    assert config.alarm_design("oven-3", "usl") == AlarmDesign(priority=1, realarm_minutes=15)
    assert config.alarm_design("oven-3", "threshold") == AlarmDesign(mode="out-of-service")
    assert config.alarm_design("oven-3", "lsl") == config.alarm_design("line-9", "score") == AlarmDesign()
    assert config.alarm_design("press-1", "score") == AlarmDesign(priority=4, mode="suppressed")
    assert config.alarm_design("press-1", "threshold") == AlarmDesign(mode="suppressed")
    detector = config.detector_for("oven-3")
    assert detector.rules == ("score", "threshold", "usl", "lsl", "stuck", "we-1")
    assert detector.config.alarms == (("usl", Hysteresis(Delay(2), Delay(20.0, seconds=True), 2.0)),
                                      ("we-1", Hysteresis(off_delay=Delay(10))))
    assert config.detector_for("press-1").config.alarms == ()


def test_the_running_app_applies_the_alarm_design_and_the_shelve_limit(tmp_path):
    app = create_app(config_with(tmp_path, ALARMS, LINEWATCH_SOURCE="http", LINEWATCH_SHELVE_MAX_MINUTES="30"))
    client, book = app.server.test_client(), app.server.extensions["linewatch"].alarm_book
    start = time.time() - 600
    values = [85, 85, 101, 102, 99, 97, 97, 97, 85]  # every 10 s
    try:
        points = [{"ts": start + 10 * k, "value": v, "line": "oven-3"} for k, v in enumerate(values)]
        points.append({"ts": start, "value": 0.9, "defect_prob": 0.95, "line": "press-1"})
        assert client.post("/api/v1/points", json=points).status_code == 201
        oven, press = book.query(line="oven-3"), book.query(line="press-1")
        with pytest.raises(ValueError, match="at most 30"):
            book.shelve(oven[0].id, "alice", "maintenance", 31)
    finally:
        app.server.extensions["linewatch"].stop()
    # on-delay 2: 102 raises; 99 holds (deadband 2: above 98); clear from 97, 20 s later it returns
    assert [(r.rule, r.raised_ts, r.returned_ts, r.priority, r.state) for r in oven] == [
        ("usl", start + 30, start + 70, 1, "returned-unacknowledged")]
    assert [(r.rule, r.state) for r in press] == [("threshold", "suppressed")]


def test_a_missing_lines_file_is_named():
    with pytest.raises(ConfigError, match=r"LINEWATCH_LINES_FILE='/nowhere/lines.toml': cannot be read"):
        Config.from_env({"LINEWATCH_LINES_FILE": "/nowhere/lines.toml"})


def test_api_lines_lists_the_file_and_the_lines_readings_arrived_for(tmp_path):
    app = create_app(config_with(tmp_path, OVEN, LINEWATCH_SOURCE="http"))
    client = app.server.test_client()
    try:
        assert client.post("/api/v1/points", json=[{"value": 1.0, "line": "cell-7"}]).status_code == 201
        lines = client.get("/api/v1/lines").get_json()["lines"]
    finally:
        app.server.extensions["linewatch"].stop()
    assert [line["id"] for line in lines] == ["oven-3", "press-1", "cell-7", "line-1"]  # line-1: the dashboard's
    assert lines[0] == {"id": "oven-3", "name": "Oven 3 temperature", "unit": "°C", "lsl": 70.0, "usl": 100.0,
                        "target": 85.0, "value_threshold": None, "spc_rules": ["we-1", "ewma", "cusum-up", "cusum-down"],
                        "points": 0}
    assert lines[2]["name"] == "cell-7" and lines[2]["unit"] == "" and lines[2]["points"] == 1
