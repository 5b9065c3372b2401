"""The app as users start it: ``python -m app`` and gunicorn from the Procfile, as real processes."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request

import pytest

from tests.helpers.processes import ROOT, procfile_web_argv
from tests.helpers.ticks import post_tick, seqs
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.server


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_gunicorn_from_the_procfile_serves_the_page_and_ticks(start_server, tmp_path, preload):
    argv = procfile_web_argv() + (["--preload"] if preload else [])
    server = start_server({"LINEWATCH_SIM_RATE": "20"}, argv=argv)
    assert server.proc.poll() is None
    status, page = get(server.url + "/")
    assert status == 200 and "_dash-config" in page and "bootstrap-5.3.9.min.css" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # every script and stylesheet from the app itself
    first = post_tick(server.url, 1, None)
    assert first["reset"] is True
    # the next tick that carries points (idle ticks in between are fine: the cursor stays)
    delta = wait_until(lambda: (tick := post_tick(server.url, 2, first["cursor"]))["ts"] and tick, 10,
                       "a tick with new points")
    assert "reset" not in delta and delta["ts"] and delta["first"] == first["cursor"] + 1
    assert json.loads(get(server.url + "/readyz")[1])["source"]["state"] == "running"
    assert server.stop(signal.SIGTERM) == 0
    recorded = sqlite3.connect(tmp_path / "data" / "linewatch.sqlite3").execute("SELECT MAX(seq) FROM points")
    assert recorded.fetchone()[0] >= delta["cursor"]  # the last batch was recorded on the way out


def test_importing_the_app_starts_no_thread(tmp_path):
    probe = "import threading, app.wsgi; print(sorted(t.name for t in threading.enumerate()))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['MainThread']"


def test_a_bad_setting_stops_start_up_with_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "--port", "http"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == "linewatch: invalid configuration: LINEWATCH_PORT='http': must be a whole number"


def test_history_survives_a_restart(start_server, tmp_path):
    first = start_server({"LINEWATCH_SIM_RATE": "50"})
    before = wait_until(lambda: len((tick := post_tick(first.url, 1, None))["ts"]) >= 50 and tick, 15,
                        "a window of 50 points")
    assert first.stop(signal.SIGTERM) == 0  # graceful: the recorder flushes on exit
    recorded = sqlite3.connect(tmp_path / "data" / "linewatch.sqlite3").execute("SELECT MAX(seq) FROM points")
    assert recorded.fetchone()[0] >= before["cursor"]

    second = start_server({"LINEWATCH_SIM_RATE": "50"})
    after = post_tick(second.url, 1, None)
    assert seqs(after)[:len(before["ts"])] == seqs(before)  # the last window is back at once
    assert after["value"][:len(before["value"])] == before["value"]
    continued = post_tick(second.url, 2, before["cursor"])
    assert "reset" not in continued  # a browser's cursor from before the restart continues
