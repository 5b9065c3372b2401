"""Per-line settings from LINEWATCH_LINES_FILE: units, limits, detection; one-line errors; GET /api/v1/lines."""

import pytest

from app.config import Config, ConfigError
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
