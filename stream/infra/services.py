"""Bring Kafka and Redis up together, and down again only where this project started them."""

from __future__ import annotations

from stream.infra import kafka, redis_server
from stream.infra.state import ServiceState
from stream.settings import Settings


def up(settings: Settings) -> list[ServiceState]:
    """Kafka then Redis: reused when configured and healthy, started locally otherwise."""
    return [kafka.up(settings), redis_server.up(settings)]


def down(settings: Settings, only_started: list[ServiceState] | None = None) -> list[ServiceState]:
    """Stop the services this project started (or only those in ``only_started``)."""
    names = None if only_started is None else {s.name for s in only_started if s.started}
    result = []
    if names is None or "redis" in names:
        result.append(redis_server.down(settings))
    if names is None or "kafka" in names:
        result.append(kafka.down(settings))
    return result


def status(settings: Settings) -> list[ServiceState]:
    """The state of both services."""
    return [kafka.status(settings), redis_server.status(settings)]
