"""Results: one JSON file per experiment and RESULTS.md, a Markdown summary of all of them."""
import datetime as dt
import glob
import json
import os
import platform

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ORDER = ["viewer", "scaling", "synthetic", "redis", "ingest", "memory", "websocket", "detection", "soak", "bigwindow-main", "bigwindow", "bigwindow-10min", "plant", "history", "push"]


def check(target, measured, limit, ok):
    """One target: its description, the measured value (text), the limit (text), pass/fail."""
    return {"target": target, "measured": measured, "limit": limit, "pass": bool(ok)}


def info(target, measured, limit="no target"):
    """A figure reported for information: shown as "info", never fails the run."""
    return {**check(target, measured, limit, True), "info": True}


def verdict(c):
    """PASS, FAIL or info, for one check."""
    return "info" if c.get("info") else "PASS" if c["pass"] else "FAIL"


def result(name, quick, checks, columns, rows, notes=(), data=None):
    """The record an experiment returns."""
    return {"name": name, "mode": "quick" if quick else "full",
            "finished": dt.datetime.now().isoformat(timespec="seconds"),
            "checks": checks, "table": {"columns": columns, "rows": rows},
            "notes": list(notes), "data": data or {}}


def failed(name, quick, error):
    """The record of an experiment that could not run."""
    return result(name, quick, [check(f"{name} ran", error, "no error", False)], [], [])


def save(record):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{record['name']}.json"), "w") as f:
        json.dump(record, f, indent=2)


def load_all():
    records = []
    for path in glob.glob(os.path.join(RESULTS, "*.json")):
        with open(path) as f:
            records.append(json.load(f))
    return sorted(records, key=lambda r: ORDER.index(r["name"]) if r["name"] in ORDER else 99)


def _table(columns, rows):
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def render():
    """Write RESULTS.md from every JSON result present; return its text."""
    records = load_all()
    summary = [[r["name"], r["mode"], c["target"], c["measured"], c["limit"],
                verdict(c).replace("FAIL", "**FAIL**")] for r in records for c in r["checks"]]
    parts = [
        "# LineWatch benchmark results",
        f"Written by `python -m bench` on {dt.datetime.now().isoformat(timespec='seconds')}; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}. "
        "See bench/README.md for method.",
        "## Targets",
        _table(["experiment", "mode", "target", "measured", "limit", "result"], summary),
    ]
    for r in records:
        parts.append(f"## {r['name']} ({r['mode']}, {r['finished']})")
        if r["table"]["rows"]:
            parts.append(_table(r["table"]["columns"], r["table"]["rows"]))
        parts += [f"- {note}" for note in r["notes"]]
    text = "\n\n".join(parts) + "\n"
    with open(os.path.join(RESULTS, "RESULTS.md"), "w") as f:
        f.write(text)
    return text
