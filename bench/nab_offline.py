"""NAB benchmark of the default LineDetector: ``python -m bench.nab_offline [--batch 100]``.

Streams every labelled file in /work/shared/data/nab through a fresh ``LineDetector(DetectorConfig())``
in batches, writes the timestamps of the raised events (every rule on by default), scores them with
the shared NAB scorer (tools/nab_score.py, one call per file) and prints a per-file table, the mean
and the minimum. Then times the detector per reading on batches of 100 and of 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from app.detectors import DetectorConfig, LineDetector

SHARED = Path("/work/shared")
DATA = SHARED / "data" / "nab"
SCORER = SHARED / "tools" / "nab_score.py"


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds (the naive timestamps read as UTC) and values of a NAB file."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ts = [datetime.fromisoformat(r["timestamp"]).replace(tzinfo=timezone.utc).timestamp() for r in rows]
    return np.array(ts), np.array([float(r["value"]) for r in rows])


def detect(ts: np.ndarray, value: np.ndarray, batch: int, config: DetectorConfig) -> list[float]:
    """Timestamps of the events a fresh detector raises over the series, fed ``batch`` at a time."""
    det = LineDetector(config)
    stamps = []
    for a in range(0, len(value), batch):
        stamps += [e.ts for e in det.process(ts[a:a + batch], value[a:a + batch]).events]
    return stamps


def nab_score(key: str, stamps: list[float], workdir: Path) -> dict:
    detections = workdir / (key.replace("/", "__") + ".txt")
    detections.write_text("".join(f"{t:.0f}\n" for t in stamps))
    done = subprocess.run([sys.executable, str(SCORER), str(DATA / key), str(DATA / "windows.json"), key,
                           str(detections)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def cost_per_reading(ts: np.ndarray, value: np.ndarray, batch: int, config: DetectorConfig, repeats=3) -> float:
    """Seconds per reading for the detector fed ``batch`` readings at a time, after its first 1000
    readings: CPU time of this process, the best of ``repeats`` runs (the machine is shared)."""
    best = np.inf
    for _ in range(repeats):
        det = LineDetector(config)
        det.process(ts[:1000], value[:1000])
        t0 = time.process_time()
        for a in range(1000, len(value), batch):
            det.process(ts[a:a + batch], value[a:a + batch])
        best = min(best, (time.process_time() - t0) / (len(value) - 1000))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nab_offline", description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100, help="readings per process() call")
    args = parser.parse_args(argv)
    config = DetectorConfig()
    windows = json.loads((DATA / "windows.json").read_text())
    scores = []
    t0 = time.monotonic()
    print(f"{'file':56s} {'score':>6s} {'hit':>5s} {'events':>6s} {'fp':>3s}")
    with tempfile.TemporaryDirectory() as tmp:
        for key in sorted(windows):
            ts, value = load(DATA / key)
            stamps = detect(ts, value, args.batch, config)
            s = nab_score(key, stamps, Path(tmp))
            norm = s["normalized"]
            if norm is not None:
                scores.append(norm)
            shown = "n/a" if norm is None else f"{norm:6.1f}"
            print(f"{key:56s} {shown:>6s} {s['windows_hit']}/{s['windows']:<3d} {len(stamps):6d} {s['fp']:3d}")
    print(f"mean {np.mean(scores):.1f}  min {np.min(scores):.1f}  over {len(scores)} files with windows "
          f"({time.monotonic() - t0:.1f} s; hit = windows caught, events = all raised, "
          f"fp = detections outside windows after probation)")
    ts, value = load(DATA / "realKnownCause" / "nyc_taxi.csv")
    for batch in (100, 1):
        print(f"cost, batches of {batch:3d}: {cost_per_reading(ts, value, batch, config) * 1e6:.2f} µs/reading")
    return 0


if __name__ == "__main__":
    sys.exit(main())
