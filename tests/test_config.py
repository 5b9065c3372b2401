from pathlib import Path

import pytest

from app.config import Config, ConfigError


def test_defaults_match_the_seed_and_the_contract():
    config = Config.from_env({})
    assert (config.host, config.port) == ("127.0.0.1", 8050)
    assert (config.source, config.store, config.window) == ("simulator", "memory", 1000)
    assert (config.prob_threshold, config.value_threshold, config.period) == (0.5, 0.5, 1.0)
    assert config.url_prefix == "/" and config.lang == "auto"
    assert config.shelve_max_minutes == 480  # 8 h (issue 13)


def test_environment_is_parsed_and_overrides_win():
    config = Config.from_env(
        {"LINEWATCH_PORT": "9000", "LINEWATCH_WINDOW": "5000", "LINEWATCH_LANG": "ZH",
         "LINEWATCH_DATA_DIR": "/tmp/x", "LINEWATCH_URL_PREFIX": "/tools/linewatch", "LINEWATCH_PERIOD": "0.5"},
        overrides={"LINEWATCH_PORT": "9001"},
    )
    assert config.port == 9001
    assert config.window == 5000 and config.lang == "zh" and config.period == 0.5
    assert config.data_dir == Path("/tmp/x")
    assert config.url_prefix == "/tools/linewatch/"


def test_unrelated_and_empty_variables_are_ignored():
    assert Config.from_env({"PATH": "/bin", "LINEWATCH_PORT": ""}).port == 8050


@pytest.mark.parametrize("key, raw, fragment", [
    ("LINEWATCH_PORT", "http", "whole number"),
    ("LINEWATCH_PORT", "70000", "between 1 and 65535"),
    ("LINEWATCH_WINDOW", "5", "between 10 and 100000"),
    ("LINEWATCH_SOURCE", "kafka", "one of simulator"),
    ("LINEWATCH_STORE", "mongo", "one of memory, redis"),
    ("LINEWATCH_REDIS_URL", "http://x", "redis://host:6379/0"),
    ("LINEWATCH_MQTT_URL", "tcp://broker", "mqtt://user:pass@host:1883"),
    ("LINEWATCH_REPLAY_SPEED", "0", "between 0.01 and 1,000,000"),
    ("LINEWATCH_LANG", "fr", "one of auto, zh, en"),
    ("LINEWATCH_PROB_THRESHOLD", "nan", "between 0 and 1"),
    ("LINEWATCH_PROB_THRESHOLD", "1.5", "between 0 and 1"),
    ("LINEWATCH_PERIOD", "3", "one of 0.5, 1, 2, 5"),
    ("LINEWATCH_URL_PREFIX", "tools", "starting with '/'"),
    ("LINEWATCH_DEBUG", "maybe", "1 or 0"),
    ("LINEWATCH_SHELVE_MAX_MINUTES", "0", "between 1 and 10,080"),
    ("LINEWATCH_SHELVE_MAX_MINUTES", "8h", "must be a number"),
])
def test_a_bad_value_fails_with_one_line_naming_the_variable(key, raw, fragment):
    with pytest.raises(ConfigError) as info:
        Config.from_env({key: raw})
    message = str(info.value)
    assert message.startswith(f"{key}={raw!r}:")
    assert fragment in message
    assert "\n" not in message


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().port = 1  # type: ignore[misc]
