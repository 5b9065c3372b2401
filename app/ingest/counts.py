"""The readings counters of /metrics: what ``Ingestor.ingest`` stored and what validation refused.

They are prometheus_client counters registered nowhere: in a process started with
``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn workers, an ingest worker sharing their host) the
library keeps their values in that directory, where a scrape of any web process sums them;
otherwise the app that owns the Ingestor exposes them (``ReadingCounters.collect``).

An ingest worker without that directory (on another host) publishes its figures in Redis
instead, one hash field per worker run, so that restarts never take a total back
(``publish``); web processes add every run's figures to their own (``read_published``).
"""

from __future__ import annotations

from prometheus_client import Counter

INGESTED = "linewatch_readings_ingested"  # exposed as ..._total
REJECTED = "linewatch_readings_rejected"
PUBLISHED_KEY = "linewatch:counts:{}"  # hash: worker run (host:pid:start) -> that run's total


class ReadingCounters:
    """One Ingestor's counters; a prometheus_client collector."""

    def __init__(self) -> None:
        self.ingested = Counter(INGESTED, "Readings stored, from every source (HTTP, MQTT, replay, simulator).",
                                registry=None)
        self.rejected = Counter(REJECTED, "Readings refused as invalid.", registry=None)

    def collect(self):
        yield from self.ingested.collect()
        yield from self.rejected.collect()


def publish(link, run: str, ingested: int, rejected: int) -> None:
    """Set this worker run's totals in Redis (a retry writes the same figures again); raises StoreUnavailable."""
    link.call(lambda: link.client.pipeline(transaction=False).hset(PUBLISHED_KEY.format(INGESTED), run, ingested)
              .hset(PUBLISHED_KEY.format(REJECTED), run, rejected).execute())


def read_published(link) -> dict[str, float]:
    """Every published run's totals added up, by counter name; raises StoreUnavailable."""
    ingested, rejected = link.call(lambda: link.client.pipeline(transaction=False)
                                   .hvals(PUBLISHED_KEY.format(INGESTED)).hvals(PUBLISHED_KEY.format(REJECTED))
                                   .execute())
    return {INGESTED: float(sum(map(int, ingested))), REJECTED: float(sum(map(int, rejected)))}
