"""Detection on labelled real signals (NAB), through the product's real ingest path.

Every file of the NAB subset (bench/nab.py) is POSTed in file order with its own timestamps to
``/api/v1/points`` of a gunicorn-served LineWatch (default configuration, one line per file), the
alarms are read back from ``/api/v1/alarms`` and scored with NAB's scorer.  Also measured:
in-process ingest with detection on, and the per-reading cost of each detector.
"""
import concurrent.futures
import http.client
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from . import report, servers
from .nab import DATA as NAB, SCORER, load, nab_score

POST_BATCH = 1000
CLIENTS = 4
MIN_MEAN, MIN_FILE, MIN_RATE = 70.0, 30.0, 50_000
PUBLISHED = "NAB corpus means (58 files): windowed Gaussian 39.6, Numenta HTM 70.1, ARTime 74.9"


def line_id(key: str) -> str:
    return "nab." + key.removesuffix(".csv").replace("/", ".")


def post_file(base: str, key: str) -> tuple[int, float]:
    """POST one file in order, in batches; returns (readings acknowledged, seconds)."""
    ts, values = (column.tolist() for column in load(NAB / key))
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    line, sent, t0 = line_id(key), 0, time.perf_counter()
    for start in range(0, len(ts), POST_BATCH):
        body = json.dumps([{"ts": t, "value": v, "line": line}
                           for t, v in zip(ts[start:start + POST_BATCH], values[start:start + POST_BATCH])])
        connection.request("POST", "/api/v1/points", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"{key}: POST answered {response.status}: {answer[:200]!r}")
        sent += len(json.loads(body))
    connection.close()
    return sent, time.perf_counter() - t0


def read_alarms(base: str, key: str) -> list[dict]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("GET", f"/api/v1/alarms?line={line_id(key)}&limit=10000")
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return body["alarms"]


def through_the_api(keys: list[str]) -> tuple[list[dict], float, int]:
    """Per-file results, and the POST time and readings of the whole corpus."""
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as work:
        env = {"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": data, "LINEWATCH_RETENTION_DAYS": "36500"}
        with servers.gunicorn("app.wsgi:server", env=env) as (_, base):
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
                sent = sum(n for n, _ in pool.map(lambda key: post_file(base, key), keys))
            elapsed = time.perf_counter() - t0
            results = []
            for key in keys:
                alarms = read_alarms(base, key)
                scored = nab_score(key, [alarm["raised_ts"] for alarm in alarms], Path(work))
                results.append({"file": key, "alarms": len(alarms),
                                "rules": sorted({a["rule"] for a in alarms}), **scored})
    return results, elapsed, sent


def in_process_rate(total: int) -> float:
    """Readings per second through ``Ingestor.ingest`` (detection on, memory store), batches of 100."""
    from app.config import Config
    from app.ingest import Ingestor
    from app.points import Thresholds
    from app.readings import Readings
    from app.recorder import Recorder
    from app.store import LineStores

    config = Config()
    stores = LineStores(total)  # room for every reading: the recorder's back-pressure check runs, never writes
    recorder = Recorder(Path(tempfile.gettempdir()), stores, Thresholds(0.5, 0.5))
    ingestor = Ingestor(stores, recorder, detector_for=config.detector_for)
    rng = np.random.default_rng(0)
    ts = 1.7e9 + np.arange(total) * 300.0
    values = 80 + np.cumsum(rng.normal(0, 0.1, total))
    nan = np.full(100, np.nan)
    t0 = time.perf_counter()
    for start in range(0, total, 100):
        ingestor.ingest(Readings(ts[start:start + 100], values[start:start + 100], nan, ["line-1"] * 100),
                        durable=False)
    return total / (time.perf_counter() - t0)


def detector_costs(n: int) -> list[list]:
    """Microseconds per reading of each detector alone, fed batches of 100 and of 1."""
    from app.detectors import RULES, SpcChart, SpcConfig, StreamScorer, ScorerConfig

    rng = np.random.default_rng(1)
    ts = 1.7e9 + np.arange(n) * 300.0
    values = 80 + rng.normal(0, 1, n)
    detectors = {"score (self-calibrating)": lambda: (lambda t, v, s=StreamScorer(ScorerConfig()): s.score(t, v))}
    for rule in (*[r for r in RULES if not r.startswith("cusum")], "cusum"):
        detectors[f"SPC {rule}"] = lambda rule=rule: (
            lambda t, v, c=SpcChart(SpcConfig(rules=frozenset({rule}))): c.update(v))
    rows = []
    for name, make in detectors.items():
        cells = [name]
        for batch in (100, 1):
            run = make()
            count = n if batch == 100 else n // 10
            t0 = time.perf_counter()
            for start in range(0, count, batch):
                run(ts[start:start + batch], values[start:start + batch])
            cells.append(f"{(time.perf_counter() - t0) / count * 1e6:.2f}")
        rows.append(cells)
    return rows


def run(quick):
    if not (NAB / "windows.json").exists() or not SCORER.exists():
        raise RuntimeError(f"NAB data or scorer not found ({NAB}, {SCORER}): set LINEWATCH_NAB_DIR / LINEWATCH_NAB_SCORER")
    keys = sorted(json.loads((NAB / "windows.json").read_text()))
    results, post_s, sent = through_the_api(keys)
    scored = [r for r in results if r["normalized"] is not None]
    mean = float(np.mean([r["normalized"] for r in scored]))
    worst = min(scored, key=lambda r: r["normalized"])
    rate = in_process_rate(200_000 if quick else 1_000_000)
    costs = detector_costs(20_000 if quick else 100_000)
    checks = [
        report.check(f"NAB mean normalized score, {len(scored)} files with labelled windows",
                     f"{mean:.1f}", f"≥ {MIN_MEAN:g} ({PUBLISHED})", mean >= MIN_MEAN),
        report.check("NAB lowest file score", f"{worst['normalized']:.1f} ({worst['file']})", f"≥ {MIN_FILE:g}",
                     worst["normalized"] >= MIN_FILE),
        report.check("ingest rate in process with detection on, batches of 100", f"{rate:,.0f} /s",
                     f"≥ {MIN_RATE:,} /s", rate >= MIN_RATE),
        report.info("HTTP ingest of the corpus with detection (gunicorn, 4 clients, batches of 1000)",
                    f"{sent:,} readings in {post_s:.1f} s = {sent / post_s:,.0f} /s"),
    ]
    columns = ["file", "normalized", "windows hit", "alarms", "rules", "raw"]
    rows = [[r["file"], "n/a" if r["normalized"] is None else f"{r['normalized']:.1f}",
             f"{r['windows_hit']}/{r['windows']}", r["alarms"], " ".join(r["rules"]), f"{r['raw']:.3f}"]
            for r in results]
    notes = [f"Default configuration for every file (no lines file). Alarms read back from GET /api/v1/alarms "
             f"and scored by nab_score.py (standard profile). {PUBLISHED}; nyc_taxi.csv: windowed Gaussian 0.0, "
             "Numenta HTM 74.4, ARTime 87.8. Files without labelled windows score n/a and are left out of the mean.",
             "Per-reading cost of each detector alone, µs, batches of 100 / of 1: "
             + "; ".join(f"{name} {b100} / {b1}" for name, b100, b1 in costs)]
    return report.result("detection", quick, checks, columns, rows, notes,
                         {"files": results, "rate": rate, "costs": costs})
