"""Data sources: they produce or receive readings and append them to the stores.

Every source has ``start()``, ``stop()`` and ``health() -> SourceHealth``; none knows Dash.
"""

from app.sources.base import SourceHealth, ThreadedSource
from app.sources.push import PushSource
from app.sources.simulator import SimulatorSource

__all__ = ["SourceHealth", "ThreadedSource", "PushSource", "SimulatorSource", "make_source"]


def make_source(config, ingestor):
    """The source named by ``config.source``; every one brings its readings through ``ingestor``."""
    if config.source == "mqtt":
        from app.sources.mqtt import MqttSource

        return MqttSource(config.mqtt_url, config.mqtt_topic, ingestor)
    if config.source == "replay":
        from app.sources.replay import ReplaySource

        return ReplaySource(config.replay_file, ingestor, speed=config.replay_speed, loop=config.replay_loop,
                            columns=dict(config.replay_columns))
    if config.source == "http":
        return PushSource()
    return SimulatorSource(ingestor, rate=config.sim_rate)
