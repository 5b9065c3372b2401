"""The ingest worker's copy of the Redis alarm book in its history (SQLite file or PostgreSQL).

With ``STORE=redis`` the book lives in Redis (every process acts on it); the worker follows
the journal's changes stream and writes each entry, with its alarm's record as Redis holds it
then, into the history's alarm tables (app/alarm_ledger.py), the cursor in the same
transaction: so alarms and journal are stored with the points, each entry once.  When Redis
lost its data, the copy fills the book again (``restore``), as the points are refilled.
Each copied entry then goes to ``listener`` (the deployment's webhooks: one process hears every
transition, whichever process made it, once).
"""

from __future__ import annotations

from typing import Callable

from app.alarm_ledger import SqlLedger
from app.alarm_lifecycle import Step
from app.store.redis.alarm_ledger import RedisLedger

SOURCE = "redis"
BATCH = 1000


class AlarmMirror:
    def __init__(self, source: RedisLedger, target: SqlLedger,
                 listener: Callable[[Step], None] | None = None) -> None:
        self.source = source
        self.target = target
        self.listener = listener

    def copy(self) -> int:
        """Copy what the journal gained since the last copy (LedgerUnavailable: Redis or the disk
        refused; nothing moved); the count of entries copied."""
        copied = 0
        while True:
            changes = self.source.changes(self.target.mirrored(SOURCE), BATCH)
            if not changes:
                return copied
            records = {record.id: record for record in
                       self.source.records_by_id(list({entry.alarm_id for _, entry in changes}))}
            steps = [Step(records[entry.alarm_id], entry) for _, entry in changes if entry.alarm_id in records]
            self.target.mirror(SOURCE, steps, changes[-1][0])
            for step in steps if self.listener else ():
                self.listener(step)
            copied += len(changes)

    def restore(self) -> int:
        """Fill an empty Redis book from the history (Redis restarted without its data, or a first
        start over a history that has alarms); the count of alarms loaded."""
        if self.source.holds_records():
            return 0
        records = self.target.records(None, None, None)
        return self.source.restore(records, self.target.journal(*(record.id for record in records)))
