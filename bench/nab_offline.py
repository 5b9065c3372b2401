"""NAB benchmark of the default LineDetector: ``python -m bench.nab_offline [--batch 100] [--robustness] [--plant]``.

Streams every labelled file of the NAB subset (bench/nab.py) through a fresh ``LineDetector(DetectorConfig())``
in batches, writes the timestamps of the raised events (every rule on by default), scores them with
the shared NAB scorer (tools/nab_score.py, one call per file) and prints a per-file table, the mean
and the minimum. Then times the detector per reading on batches of 100 and of 1.

``--robustness`` then asks how much of that mean is tuning to these files: every parameter of the
family (each scorer parameter, the score threshold as an excess ``u``, ``clear_after``) moved ±20 %
alone, the mean and minimum of each variant; and a held-out estimate: over random halves of the
files, the variant with the best mean on one half is scored on the other half (the default is one of
the candidates), averaged over the splits. The variants are scored in process with the same scorer
functions (tools/nab_score.py imported), on as many processes as there are CPUs.

``--plant`` also scores the default on 100 labelled plant-like signals that are not NAB's
(bench/plant_signals.py), the same way: an out-of-sample check, per signal kind and anomaly kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from app.detectors import DetectorConfig, LineDetector

from . import plant_signals
from .nab import DATA, SCORER, load, nab_score


def detect(ts: np.ndarray, value: np.ndarray, batch: int, config: DetectorConfig) -> list[float]:
    """Timestamps of the events a fresh detector raises over the series, fed ``batch`` at a time."""
    det = LineDetector(config)
    stamps = []
    for a in range(0, len(value), batch):
        stamps += [e.ts for e in det.process(ts[a:a + batch], value[a:a + batch]).events]
    return stamps


# the family of the robustness check: scorer parameters moved ±20 % (record_decay through its half-life)
SWEPT_SCORER = ("rate", "warmup_rate", "clip", "profile_rate", "profile_gain", "bin_scale_mix", "floor_fraction", "spike",
                "spike_ratio", "record_decay", "spike_run", "burst_level", "burst_rate", "burst_z", "burst_min_rate",
                "noise_cap", "noise_z", "shift_rate", "shift_z", "long_rate", "long_prior", "gate_rate", "gate_z",
                "state_gap", "state_dwell")


def variants(base: DetectorConfig, factors=(0.8, 1.2)) -> list[tuple[str, DetectorConfig]]:
    """The default plus every swept parameter moved alone by each factor."""
    out = [("default", base)]
    for f in factors:
        for name in SWEPT_SCORER:
            value = getattr(base.scorer, name)
            if name == "record_decay":  # the half-life, not the factor, is scaled
                value = 0.5 ** (1.0 / (f * np.log(0.5) / np.log(value)))
            else:
                value = value * f
            out.append((f"{name} x{f:g}", dataclasses.replace(base, scorer=dataclasses.replace(base.scorer, **{name: value}))))
        u = base.score_threshold / (1.0 - base.score_threshold) * f
        out.append((f"score_threshold (as u) x{f:g}", dataclasses.replace(base, score_threshold=u / (1.0 + u))))
        out.append((f"clear_after x{f:g}", dataclasses.replace(base, clear_after=int(round(base.clear_after * f)))))
    return out


def _nab_module():
    spec = importlib.util.spec_from_file_location("nab_score", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalized_scores(args: tuple[DetectorConfig, int, list[str]]) -> list[float]:
    """Normalized NAB score of each file (in ``keys`` order) for one configuration, in process."""
    config, batch, keys = args
    nab = _nab_module()
    windows = json.loads((DATA / "windows.json").read_text())
    out = []
    for key in keys:
        ts, value = load(DATA / key)
        times = [datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None) for t in ts]
        find = nab.row_finder(times)
        rows = {find(datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None))
                for t in detect(ts, value, batch, config)} - {None}
        out.append(nab.score(len(times), nab.window_rows(times, windows[key]), rows)["normalized"])
    return out


def plant_scores(config: DetectorConfig, batch: int, seeds: int = 100) -> list[float]:
    """Normalized NAB score of the detections on each plant-like signal ``0..seeds-1``."""
    nab = _nab_module()
    out = []
    for seed in range(seeds):
        ts, value, windows = plant_signals.signal(seed)
        rows = {int(round((t - ts[0]) / plant_signals.STEP_S)) for t in detect(ts, value, batch, config)}
        out.append(nab.score(len(ts), windows, rows)["normalized"])
    return out


def robustness(keys: list[str], batch: int, splits: int = 500, seed: int = 0) -> float:
    """Print the ±20 % sweep and the held-out estimate; returns the held-out estimate."""
    named = variants(DetectorConfig())
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        table = np.array(list(pool.map(_normalized_scores, [(c, batch, keys) for _, c in named])))
    means, mins = table.mean(axis=1), table.min(axis=1)
    print(f"\n±20 % sweep ({len(named) - 1} variants): mean {means[1:].min():.1f}..{means[1:].max():.1f} "
          f"(default {means[0]:.1f}), minimum file {mins[1:].min():.1f}..{mins[1:].max():.1f} (default {mins[0]:.1f})")
    for (name, _), m, lo in zip(named[1:], means[1:], mins[1:]):
        print(f"  {name:32s} mean {m:5.1f}  min {lo:6.1f}")
    rng, held = np.random.default_rng(seed), []
    for _ in range(splits):
        order = rng.permutation(len(keys))
        halves = order[:len(keys) // 2], order[len(keys) // 2:]
        for tune, test in (halves, halves[::-1]):
            held.append(table[np.argmax(table[:, tune].mean(axis=1)), test].mean())
    print(f"held-out estimate: {np.mean(held):.1f} (best of the {len(named)} on a random half, scored on the "
          f"other half; {splits} splits both ways)")
    return float(np.mean(held))


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
    parser.add_argument("--robustness", action="store_true", help="also the ±20 %% sweep and the held-out estimate")
    parser.add_argument("--plant", action="store_true", help="also the plant-like signals that are not NAB's")
    args = parser.parse_args(argv)
    config = DetectorConfig()
    windows = json.loads((DATA / "windows.json").read_text())
    scores, keys = [], []
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
                keys.append(key)
            shown = "n/a" if norm is None else f"{norm:6.1f}"
            print(f"{key:56s} {shown:>6s} {s['windows_hit']}/{s['windows']:<3d} {len(stamps):6d} {s['fp']:3d}")
    print(f"mean {np.mean(scores):.1f}  min {np.min(scores):.1f}  over {len(scores)} files with windows "
          f"({time.monotonic() - t0:.1f} s; hit = windows caught, events = all raised, "
          f"fp = detections outside windows after probation)")
    ts, value = load(DATA / "realKnownCause" / "nyc_taxi.csv")
    for batch in (100, 1):
        print(f"cost, batches of {batch:3d}: {cost_per_reading(ts, value, batch, config) * 1e6:.2f} µs/reading")
    if args.robustness:
        robustness(keys, args.batch)
    if args.plant:
        mean, by_signal, by_anomaly = plant_signals.table(plant_scores(config, args.batch))
        print(f"\nplant-like signals (100, not NAB's): mean {mean:.1f}")
        signals, anomalies = plant_signals.breakdown(by_signal, by_anomaly)
        print(f"  by signal:  {signals}\n  by anomaly: {anomalies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
