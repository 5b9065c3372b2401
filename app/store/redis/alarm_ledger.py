"""The alarm book's ledger in Redis (``STORE=redis``): shared by the web processes and the ingest worker.

A change is one optimistic transaction (WATCH the open-alarm index and the record, read,
apply the lifecycle function, then MULTI/EXEC the record, the index, the journal entry, the
time index and the changes stream); when another process changed a watched key meanwhile,
EXEC fails and the change is applied again to what it wrote.  So concurrent raises of one
(line, rule) open one alarm and an acknowledgement is never overwritten by a raise.
Keys: app/store/redis/keys.py.  Redis away: AlarmStoreUnavailable (nothing changed), which is
both the book's LedgerUnavailable and the store's StoreUnavailable (the page's "store unavailable").
"""

from __future__ import annotations

from app.alarm_book import Change, LedgerUnavailable, UnknownAlarm
from app.alarm_codec import entry_from_json, entry_to_json, record_from_json, record_to_json
from app.alarm_lifecycle import AlarmRecord, JournalEntry, Step
from app.store.protocol import StoreUnavailable
from app.store.redis.keys import (ALARM_CHANGES_KEY, ALARM_OPEN_KEY, ALARM_TIMES_KEY, alarm_journal_key,
                                  alarm_key)
from app.store.redis.link import RedisLink

CHANGES_MAXLEN = 100_000  # entries kept in the changes stream (the ingest worker mirrors them within seconds)
READ_CHUNK = 500


class AlarmStoreUnavailable(LedgerUnavailable, StoreUnavailable):
    """Redis cannot serve the alarm book now; one short line why."""


class RedisLedger:
    """Alarm records, the open index per (line, rule), journals and a time index in Redis."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def change_open(self, line: str, rule: str, change: Change) -> Step | None:
        def attempt(pipe) -> Step | None:
            alarm_id = pipe.hget(ALARM_OPEN_KEY, _open_field(line, rule))
            current = None
            if alarm_id is not None:
                pipe.watch(alarm_key(alarm_id.decode()))
                current = _load(pipe, alarm_id.decode())
            return self._write(pipe, change(current))
        return self._transaction(attempt, ALARM_OPEN_KEY)

    def change(self, alarm_id: str, change: Change) -> Step | None:
        def attempt(pipe) -> Step | None:
            current = _load(pipe, alarm_id)
            if current is None:
                raise UnknownAlarm(alarm_id)
            return self._write(pipe, change(current))
        return self._transaction(attempt, ALARM_OPEN_KEY, alarm_key(alarm_id))

    @staticmethod
    def _write(pipe, step: Step | None) -> Step | None:
        """Queue the step's writes (after the reads: the pipeline leaves watch mode here)."""
        if step is None:
            return None
        record = step.record
        field = _open_field(record.line, record.rule)
        indexed = pipe.hget(ALARM_OPEN_KEY, field)
        pipe.multi()
        pipe.set(alarm_key(record.id), record_to_json(record))
        if record.open:
            pipe.hset(ALARM_OPEN_KEY, field, record.id)
        elif indexed is not None and indexed.decode() == record.id:
            pipe.hdel(ALARM_OPEN_KEY, field)
        entry = entry_to_json(step.entry)
        pipe.rpush(alarm_journal_key(record.id), entry)
        pipe.zadd(ALARM_TIMES_KEY, {record.id: record.raised_ts})
        pipe.xadd(ALARM_CHANGES_KEY, {"e": entry}, maxlen=CHANGES_MAXLEN, approximate=True)
        return step

    def _transaction(self, attempt, *watched: str):
        try:
            return self.link.call(self.link.client.transaction, attempt, *watched, value_from_callable=True)
        except StoreUnavailable as exc:
            raise AlarmStoreUnavailable(f"store unavailable: {exc}") from None

    def _call(self, fn, *args):
        try:
            return self.link.call(fn, *args)
        except StoreUnavailable as exc:
            raise AlarmStoreUnavailable(f"store unavailable: {exc}") from None

    def forget(self, before_ts: float) -> int:
        """Delete the alarms first raised before ``before_ts`` that are back to normal, with their
        journals (retention); the count deleted."""
        def attempt(pipe) -> int:
            old = {alarm_id.decode() for alarm_id in pipe.zrangebyscore(ALARM_TIMES_KEY, "-inf", f"({before_ts!r}")}
            closed = sorted(old - {alarm_id.decode() for alarm_id in pipe.hvals(ALARM_OPEN_KEY)})
            pipe.multi()
            for alarm_id in closed:
                pipe.delete(alarm_key(alarm_id), alarm_journal_key(alarm_id))
            if closed:
                pipe.zrem(ALARM_TIMES_KEY, *closed)
            return len(closed)
        return self._transaction(attempt, ALARM_OPEN_KEY, ALARM_TIMES_KEY)

    def record(self, alarm_id: str) -> AlarmRecord | None:
        raw = self._call(self.link.client.get, alarm_key(alarm_id))
        return record_from_json(raw) if raw is not None else None

    def open_records(self) -> list[AlarmRecord]:
        ids = [alarm_id.decode() for alarm_id in self._call(self.link.client.hvals, ALARM_OPEN_KEY)]
        return self._records(ids)

    def records(self, line: str | None, since_ts: float | None, until_ts: float | None) -> list[AlarmRecord]:
        """Oldest first: by raised_ts, then id (the sorted set's order)."""
        low = "-inf" if since_ts is None else since_ts
        high = "+inf" if until_ts is None else until_ts
        ids = [alarm_id.decode() for alarm_id in self._call(self.link.client.zrangebyscore, ALARM_TIMES_KEY,
                                                            low, high)]
        return [record for record in self._records(ids) if line is None or record.line == line]

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        """Each alarm's entries in the order written; across alarms by time (``at``)."""
        def read(pipe):
            for alarm_id in alarm_ids:
                pipe.lrange(alarm_journal_key(alarm_id), 0, -1)
            return pipe.execute()
        lists = self._call(lambda: read(self.link.client.pipeline(transaction=False))) if alarm_ids else []
        entries = [entry_from_json(raw) for texts in lists for raw in texts]
        return sorted(entries, key=lambda entry: entry.at) if len(alarm_ids) > 1 else entries

    def changes(self, after: str | None, count: int) -> list[tuple[str, JournalEntry]]:
        """Up to ``count`` journal entries written after stream id ``after`` (None, or an id beyond the
        stream's newest (Redis restarted empty): from the oldest kept), with their stream ids."""
        newest = self._call(self.link.client.xrevrange, ALARM_CHANGES_KEY, "+", "-", 1)
        if after is not None and newest and _stream_id(newest[0][0].decode()) < _stream_id(after):
            after = None
        found = self._call(self.link.client.xrange, ALARM_CHANGES_KEY, "-" if after is None else f"({after}", "+",
                           count)
        return [(entry_id.decode(), entry_from_json(fields[b"e"])) for entry_id, fields in found]

    def holds_records(self) -> bool:
        return bool(self._call(self.link.client.exists, ALARM_TIMES_KEY))

    def restore(self, records: list[AlarmRecord], journal: list[JournalEntry]) -> int:
        """Load ``records`` and their ``journal`` (a copy kept elsewhere) into an empty book, in one
        transaction; 0 (nothing loaded) when the book holds any record."""
        def attempt(pipe) -> int:
            if pipe.exists(ALARM_TIMES_KEY):
                return 0
            pipe.multi()
            for record in records:
                pipe.set(alarm_key(record.id), record_to_json(record))
                pipe.zadd(ALARM_TIMES_KEY, {record.id: record.raised_ts})
                if record.open:
                    pipe.hset(ALARM_OPEN_KEY, _open_field(record.line, record.rule), record.id)
            for entry in journal:
                pipe.rpush(alarm_journal_key(entry.alarm_id), entry_to_json(entry))
            return len(records)
        return self._transaction(attempt, ALARM_TIMES_KEY) if records else 0

    def records_by_id(self, ids: list[str]) -> list[AlarmRecord]:
        """The records of ``ids`` that exist."""
        return self._records(ids)

    def _records(self, ids: list[str]) -> list[AlarmRecord]:
        found = []
        for start in range(0, len(ids), READ_CHUNK):
            chunk = [alarm_key(alarm_id) for alarm_id in ids[start:start + READ_CHUNK]]
            found += [record_from_json(raw) for raw in self._call(self.link.client.mget, chunk) if raw is not None]
        return found


def _open_field(line: str, rule: str) -> str:
    return f"{line}/{rule}"  # line ids have no "/" (app/readings.py LINE_ID)


def _stream_id(text: str) -> tuple[int, int]:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _load(pipe, alarm_id: str) -> AlarmRecord | None:
    raw = pipe.get(alarm_key(alarm_id))
    return record_from_json(raw) if raw is not None else None
