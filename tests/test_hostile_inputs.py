"""Hostile inputs (the reliability issue): every one gets a 4xx with a reason, or works; never a 500."""

from __future__ import annotations

import pytest

from app.config import Config
from app.lines import LinesFileError, load_lines


@pytest.fixture
def config(tmp_path):
    """Overrides tests/conftest.py's: points arrive only by POST (no simulator)."""
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


# --- line ids: the whole string, not up to a final newline ------------------------------------

def test_a_line_id_with_a_trailing_newline_is_refused_everywhere(client, tmp_path):
    posted = client.post("/api/v1/points", json=[{"value": 1.0, "line": "line-1\n"}])
    assert posted.status_code == 400 and posted.get_json()["field"] == "line"
    for path in ("/api/v1/points", "/api/v1/points.csv", "/api/v1/alarms"):
        assert client.get(path, query_string={"line": "line-1\n"}).status_code == 400, path
    lines_file = tmp_path / "lines.toml"
    lines_file.write_text('[lines."oven-3\\n"]\nunit = "°C"\n', encoding="utf-8")
    with pytest.raises(LinesFileError, match="a line id is"):
        load_lines(lines_file)
