"""``python -m bench [--quick] [--only NAME]``: run the experiments, write bench/results/."""
import argparse
import sys
import time
import traceback

from . import (bigwindow, detection, history, ingest, memory, plant, push, redis_scale, report, scaling, soak,
               synthetic, viewer, websocket)

EXPERIMENTS = {"viewer": viewer, "scaling": scaling, "synthetic": synthetic, "ingest": ingest,
               "memory": memory, "websocket": websocket, "redis": redis_scale,
               "detection": detection, "soak": soak, "bigwindow": bigwindow, "plant": plant,
               "history": history, "push": push}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 3 minutes)")
    parser.add_argument("--only", choices=sorted(EXPERIMENTS), action="append",
                        help="run only this experiment (repeatable)")
    args = parser.parse_args(argv)
    ok = True
    for name in args.only or EXPERIMENTS:
        print(f"== {name} ({'quick' if args.quick else 'full'})", flush=True)
        t0 = time.monotonic()
        try:
            record = EXPERIMENTS[name].run(args.quick)
        except Exception as exc:  # record the failure, run the other experiments
            traceback.print_exc()
            record = report.failed(name, args.quick, f"{type(exc).__name__}: {exc}")
        report.save(record)
        ok &= all(c["pass"] for c in record["checks"])
        for c in record["checks"]:
            print(f"  {report.verdict(c):4}  {c['target']}: {c['measured']} ({c['limit']})")
        print(f"  [{time.monotonic() - t0:.0f} s]", flush=True)
    print(report.render())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
