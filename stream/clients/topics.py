"""Create the pipeline's topics with the configured partitions when they are missing."""

from __future__ import annotations

from stream.clients.probes import ensure_topic
from stream.settings import Settings


def pipeline_topics(settings: Settings) -> list[str]:
    """Every topic the pipeline reads or writes."""
    return [settings.topic_beats, settings.topic_signal, settings.topic_scores,
            settings.topic_anomalies, settings.topic_deadletter, settings.topic_alerts,
            settings.topic_stats_journal, settings.topic_events]


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing pipeline topics; return the names this call created."""
    return [name for name in pipeline_topics(settings)
            if ensure_topic(settings, name, settings.topic_partitions)]
