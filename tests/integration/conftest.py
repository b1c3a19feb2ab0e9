"""Fixtures that run the real pipeline: unique topics, groups and Redis prefixes per test."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.clients.topics import ensure_topics
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.settings import Settings


@pytest.fixture
def pipeline_settings(infra: Settings, unique: Callable[[str], str]) -> Callable[..., Settings]:
    """A factory of settings with this test's own topics, consumer group and key prefix."""

    def make(**overrides: Any) -> Settings:
        names = {f"topic_{t}": unique(t) for t in
                 ("beats", "signal", "scores", "anomalies", "deadletter", "alerts", "events",
                  "stats_journal")}
        base = infra.model_dump()
        base.update(names, worker_group=unique("workers"), redis_key_prefix=unique("ecg"))
        base.update(overrides)
        settings = Settings(**base)
        ensure_topics(settings)
        return settings

    return make


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Settings, int], list[subprocess.Popen]]]:
    """Start ``n`` real worker processes for settings; all are stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(settings: Settings, n: int = 1) -> list[subprocess.Popen]:
        procs = [start_worker(settings, tmp_path / f"worker-{len(started) + i}.log")
                 for i in range(n)]
        started.extend(procs)
        wait_group_stable(settings, len(procs), procs)
        return procs

    yield start
    for proc in started:
        stop_worker(proc)


def crash_and_replace(settings: Settings, worker: subprocess.Popen, log: Path) -> subprocess.Popen:
    """SIGKILL ``worker`` (its offsets stay as last committed) and start its successor."""
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL
    return start_worker(settings, log)


@pytest.fixture
async def redis_prefix(infra: Settings, unique: Callable[[str], str]) -> AsyncIterator[str]:
    """A unique Redis key prefix; every key under it is deleted afterwards."""
    from stream.thresholds.redis_store import redis_client

    name = unique("keys")
    yield name
    client = redis_client(infra)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
