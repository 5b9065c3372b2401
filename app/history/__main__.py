"""``python -m app.history migrate --to postgresql://...``: copy the SQLite history into PostgreSQL."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.config import Config, ConfigError
from app.history.migrate import MigrationError, migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.history", description="LineWatch history tools")
    commands = parser.add_subparsers(dest="command", required=True)
    move = commands.add_parser("migrate", help="copy the SQLite history (points, alerts, alarms, keys) to PostgreSQL")
    move.add_argument("--to", required=True, help="postgresql://user@host/db (the LINEWATCH_HISTORY_URL to use)")
    move.add_argument("--data-dir", help="the data dir holding linewatch.sqlite3 (LINEWATCH_DATA_DIR)")
    args = parser.parse_args(argv)
    overrides = {"LINEWATCH_HISTORY_URL": args.to, **({"LINEWATCH_DATA_DIR": args.data_dir} if args.data_dir else {})}
    try:
        config = Config.from_env(os.environ, overrides)
        copied = migrate(Path(config.data_dir) / "linewatch.sqlite3", config.history_url)
    except (ConfigError, MigrationError) as exc:
        print(f"linewatch: {exc}", file=sys.stderr)
        return 2
    print("migrated: " + ", ".join(f"{table} {copied.read[table]} read, {copied.held[table]} held"
                                   for table in copied.read))
    return 0


if __name__ == "__main__":
    sys.exit(main())
