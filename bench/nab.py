"""The labelled NAB signals and NAB's scorer, as both detection benchmarks use them.

Data in ``../shared/data/nab`` beside this repository (or ``LINEWATCH_NAB_DIR``), the scorer in
``../shared/tools/nab_score.py`` (or ``LINEWATCH_NAB_SCORER``).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
DATA = Path(os.environ.get("LINEWATCH_NAB_DIR", SHARED / "data" / "nab"))
SCORER = Path(os.environ.get("LINEWATCH_NAB_SCORER", SHARED / "tools" / "nab_score.py"))


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds (the naive timestamps read as UTC) and values of a NAB file, in file order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ts = [datetime.fromisoformat(r["timestamp"]).replace(tzinfo=timezone.utc).timestamp() for r in rows]
    return np.array(ts), np.array([float(r["value"]) for r in rows])


def nab_score(key: str, stamps: list[float], workdir: Path) -> dict:
    """NAB's standard-profile score of detections at ``stamps`` (epoch seconds) on file ``key``."""
    detections = workdir / (key.replace("/", "__") + ".txt")
    detections.write_text("".join(f"{t:.0f}\n" for t in stamps))
    done = subprocess.run([sys.executable, str(SCORER), str(DATA / key), str(DATA / "windows.json"), key,
                           str(detections)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
