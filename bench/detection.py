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
import urllib.parse
from pathlib import Path

import numpy as np

from . import plant_signals, report, servers
from .nab import DATA as NAB, SCORER, load, nab_score

POST_BATCH = 1000
CLIENTS = 4
MIN_MEAN, MIN_FILE, MIN_RATE = 70.0, 30.0, 50_000
FLOOD_PER_10_MIN = 10  # EEMUA 191's flood limit
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


def get_json(base: str, path: str) -> dict:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("GET", path)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body}")
    return body


def read_raises(base: str, key: str) -> list[dict]:
    """Every raise of the file's line: the journal entries of its alarms (GET /api/v1/alarms, then
    /api/v1/alarms/<id>), so a re-raise of an alarm nobody acknowledged counts as a detection too."""
    raises = []
    for alarm in get_json(base, f"/api/v1/alarms?line={line_id(key)}&limit=10000")["alarms"]:
        journal = get_json(base, "/api/v1/alarms/" + urllib.parse.quote(alarm["id"]))["journal"]
        raises += [{"rule": alarm["rule"], "raised_ts": entry["reading_ts"]} for entry in journal
                   if entry["action"] == "raise"]
    return sorted(raises, key=lambda r: r["raised_ts"])


def eemua(base: str, key: str) -> dict:
    """The file's EEMUA 191 figures over its own time span (one operator)."""
    ts, _ = load(NAB / key)
    return get_json(base, f"/api/v1/alarms/figures?line={line_id(key)}&from={ts.min():.0f}&to={ts.max() + 1:.0f}")


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
                raises = read_raises(base, key)
                scored = nab_score(key, [r["raised_ts"] for r in raises], Path(work))
                figures = eemua(base, key)
                results.append({"file": key, "alarms": len(raises), "rules": sorted({r["rule"] for r in raises}),
                                "per_10_min": figures["per_10_min"], "peak_10_min": figures["peak_10_min"],
                                "flood_share": figures["flood_share"], **scored})
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


def alarm_cost(keys: list[str]) -> tuple[float, int]:
    """Microseconds per reading the alarm book adds to ingest (SQLite ledger, as ``python -m app``
    runs it), over the whole corpus, each file its own line: CPU time with the book minus without,
    the best of 3 each; and the transitions the book stored."""
    from app.alarm_book import AlarmBook
    from app.alarm_ledger import SqliteLedger
    from app.config import Config
    from app.ingest import Ingestor
    from app.points import Thresholds
    from app.readings import Readings
    from app.recorder import Recorder
    from app.store import LineStores

    files = [(line_id(key), *load(NAB / key)) for key in keys]
    readings = sum(len(ts) for _, ts, _ in files)

    def run(with_book: bool) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as data:
            stores = LineStores(30_000)
            recorder = Recorder(Path(data), stores, Thresholds(0.5, 0.5))
            book = AlarmBook(SqliteLedger(recorder.path)) if with_book else None
            ingestor = Ingestor(stores, recorder, detector_for=Config().detector_for, book=book)
            t0 = time.process_time()
            for line, ts, values in files:
                for start in range(0, len(ts), 100):
                    part = slice(start, start + 100)
                    ingestor.ingest(Readings(ts[part], values[part], np.full(len(ts[part]), np.nan),
                                             [line] * len(ts[part])), durable=False)
            used = time.process_time() - t0
            steps = len(book.ledger.journal(*(r.id for r in book.query()))) if book else 0
            return used, steps

    without = min(run(False)[0] for _ in range(3))
    runs = [run(True) for _ in range(3)]
    return (min(used for used, _ in runs) - without) / readings * 1e6, runs[0][1]


def detector_costs(n: int) -> list[list]:
    """Microseconds per reading of each detector alone, fed batches of 100 and of 1."""
    from app.detectors import RULES, DetectorConfig, SpcChart, SpcConfig, StreamScorer, ScorerConfig, StuckWatch

    defaults = DetectorConfig()
    rng = np.random.default_rng(1)
    ts = 1.7e9 + np.arange(n) * 300.0
    values = 80 + rng.normal(0, 1, n)
    detectors = {"score (self-calibrating)": lambda: (lambda t, v, s=StreamScorer(ScorerConfig()): s.score(t, v)),
                 "stuck": lambda: (lambda t, v, w=StuckWatch(defaults.stuck_ratio, defaults.stuck_min): w.update(v))}
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
    from app.detectors import DetectorConfig

    from .nab_offline import plant_scores

    if not (NAB / "windows.json").exists() or not SCORER.exists():
        raise RuntimeError(f"NAB data or scorer not found ({NAB}, {SCORER}): set LINEWATCH_NAB_DIR / LINEWATCH_NAB_SCORER")
    keys = sorted(json.loads((NAB / "windows.json").read_text()))
    results, post_s, sent = through_the_api(keys)
    scored = [r for r in results if r["normalized"] is not None]
    mean = float(np.mean([r["normalized"] for r in scored]))
    worst = min(scored, key=lambda r: r["normalized"])
    rate = in_process_rate(200_000 if quick else 1_000_000)
    book_us, transitions = alarm_cost(keys)
    floods = [r for r in results if r["peak_10_min"] > FLOOD_PER_10_MIN]
    busiest = max(results, key=lambda r: r["peak_10_min"])
    costs = detector_costs(20_000 if quick else 100_000)
    plant_mean, plant_by_signal, plant_by_anomaly = plant_signals.table(plant_scores(DetectorConfig(), 100))
    checks = [
        report.check(f"NAB mean normalized score, {len(scored)} files with labelled windows",
                     f"{mean:.1f}", f"≥ {MIN_MEAN:g} ({PUBLISHED})", mean >= MIN_MEAN),
        report.check("NAB lowest file score", f"{worst['normalized']:.1f} ({worst['file']})", f"≥ {MIN_FILE:g}",
                     worst["normalized"] >= MIN_FILE),
        report.check("ingest rate in process with detection on, batches of 100", f"{rate:,.0f} /s",
                     f"≥ {MIN_RATE:,} /s", rate >= MIN_RATE),
        report.check("NAB files: peak alarms per 10 minutes (EEMUA 191, the file's own clock), every file",
                     f"{busiest['peak_10_min']} ({busiest['file']}); {len(floods)} files in flood",
                     f"≤ {FLOOD_PER_10_MIN} (flood limit)", not floods),
        report.info("alarm book's cost per reading in ingest (SQLite ledger, the corpus, CPU time)",
                    f"{book_us:.2f} µs/reading ({transitions:,} transitions booked)"),
        report.info("HTTP ingest of the corpus with detection (gunicorn, 4 clients, batches of 1000)",
                    f"{sent:,} readings in {post_s:.1f} s = {sent / post_s:,.0f} /s"),
        report.info("100 labelled plant-like signals that are not NAB's (bench/plant_signals.py, in process): "
                    "mean normalized score", f"{plant_mean:.1f}"),
    ]
    columns = ["file", "normalized", "windows hit", "raises", "rules", "raw", "alarms / 10 min", "peak / 10 min",
               "time in flood"]
    rows = [[r["file"], "n/a" if r["normalized"] is None else f"{r['normalized']:.1f}",
             f"{r['windows_hit']}/{r['windows']}", r["alarms"], " ".join(r["rules"]), f"{r['raw']:.3f}",
             f"{r['per_10_min']:.3f}", r["peak_10_min"], f"{r['flood_share']:.1%}"]
            for r in results]
    notes = [f"Default configuration for every file (no lines file). Raises read back from the alarms' "
             f"journals (GET /api/v1/alarms, GET /api/v1/alarms/<id>) and scored by nab_score.py (standard profile); "
             f"EEMUA 191 figures from GET /api/v1/alarms/figures over each file's own time span (nobody "
             f"acknowledges in a replay, so every raise is announced). {PUBLISHED}; nyc_taxi.csv: windowed Gaussian 0.0, "
             "Numenta HTM 74.4, ARTime 87.8. Files without labelled windows score n/a and are left out of the mean.",
             "Per-reading cost of each detector alone, µs, batches of 100 / of 1: "
             + "; ".join(f"{name} {b100} / {b1}" for name, b100, b1 in costs),
             "Plant-like signals (not NAB's), mean normalized score by signal: {}; by anomaly: {}".format(
                 *plant_signals.breakdown(plant_by_signal, plant_by_anomaly))]
    return report.result("detection", quick, checks, columns, rows, notes,
                         {"files": results, "rate": rate, "costs": costs, "alarm_book_us_per_reading": book_us,
                          "plant_signals": {"mean": plant_mean, "by_signal": plant_by_signal,
                                            "by_anomaly": plant_by_anomaly}})
