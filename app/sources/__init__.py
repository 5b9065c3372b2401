"""Data sources: they produce readings, score them and append them to the store."""

from app.sources.base import SourceHealth, ThreadedSource
from app.sources.simulator import SimulatorSource

__all__ = ["SourceHealth", "ThreadedSource", "SimulatorSource", "make_source"]


def make_source(config, store) -> ThreadedSource:
    """The source named by ``config.source`` feeding ``store``."""
    return SimulatorSource(store, rate=config.sim_rate)
