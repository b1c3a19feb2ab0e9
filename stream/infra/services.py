"""Bring Kafka and Redis up together, and down again only where this project started them."""

from __future__ import annotations

from collections.abc import Collection

from stream.infra import kafka, redis_server
from stream.infra.state import ServiceState
from stream.settings import Settings


def up(settings: Settings, launched: list[str] | None = None) -> list[ServiceState]:
    """Kafka then Redis: reused when configured and healthy, started locally otherwise.

    ``launched`` gets a service's name just before its process is started, so a caller
    interrupted half-way (the broker still starting) knows what to stop: see
    :func:`stop_launched`.
    """
    return [kafka.up(settings, launched), redis_server.up(settings, launched)]


def down(settings: Settings, only_started: list[ServiceState] | None = None) -> list[ServiceState]:
    """Stop the services this project started (or only those in ``only_started``)."""
    names = None if only_started is None else {s.name for s in only_started if s.started}
    return _stop(settings, names)


def stop_launched(settings: Settings, launched: Collection[str]) -> list[ServiceState]:
    """Stop the services named in ``launched`` (by :func:`up`), Redis first."""
    return _stop(settings, set(launched))


def _stop(settings: Settings, names: set[str] | None) -> list[ServiceState]:
    result = []
    if names is None or "redis" in names:
        result.append(redis_server.down(settings))
    if names is None or "kafka" in names:
        result.append(kafka.down(settings))
    return result


def status(settings: Settings) -> list[ServiceState]:
    """The state of both services."""
    return [kafka.status(settings), redis_server.status(settings)]
