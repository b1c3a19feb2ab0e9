"""The worker's ``/health`` report and its consumer lag, read from the running Faust app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

from stream.settings import Settings
from stream.worker.pipeline import WorkerRuntime

PROBE_DEADLINE_S = 1.0
"""The Kafka and Redis probes of ``/health`` run concurrently and all end by this deadline."""


async def tcp_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _any_true(probes: Sequence[Awaitable[bool]]) -> bool:
    """True as soon as one probe is; False when none is."""
    for probe in asyncio.as_completed(probes):
        if await probe:
            return True
    return False


async def probe(kafka: Sequence[Awaitable[bool]], redis: Awaitable[bool] | None,
                deadline: float = PROBE_DEADLINE_S) -> tuple[bool, bool]:
    """(any Kafka probe true, Redis probe true), all run concurrently for at most ``deadline``.

    A probe unfinished at the deadline counts as False (and is cancelled).
    """
    async def redis_ok() -> bool:
        return bool(redis is not None and await redis)

    tasks = [asyncio.ensure_future(_any_true(kafka)), asyncio.ensure_future(redis_ok())]
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    def ok(task: asyncio.Future[bool]) -> bool:
        return task in done and task.exception() is None and bool(task.result())

    return ok(tasks[0]), ok(tasks[1])


async def health_report(settings: Settings, runtime: WorkerRuntime | None) -> dict[str, Any]:
    """Kafka and Redis connectivity and what the worker has done so far.

    ``status`` is ``ok`` (both reachable), ``degraded`` (Kafka reachable, Redis not: scoring
    goes on with the static threshold) or ``down`` (no broker reachable). The Kafka TCP
    probes and the Redis PING run concurrently under one :data:`PROBE_DEADLINE_S` deadline,
    so the report comes within about a second even while the worker is busy.
    """
    gate = runtime.scorer.gate if runtime is not None else None
    store = getattr(gate, "store", None)
    checks = [tcp_ok(host, port, PROBE_DEADLINE_S) for host, port in settings.kafka_hosts]
    kafka, redis = await probe(checks, store.ping() if store is not None else None)
    status = "down" if not kafka else ("ok" if redis else "degraded")
    report: dict[str, Any] = {"status": status, "kafka": kafka, "redis": redis,
                              "threshold_degraded": bool(gate and gate.degraded)}
    if runtime is not None:
        counters = runtime.counters
        report.update(worker=runtime.worker, model_version=runtime.scorer.model_version,
                      beats_scored=counters.beats_scored, dead_letters=counters.dead_letters)
    return report


def consumer_lags(consumer: Any, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Records not yet read per assigned input partition: high watermark - next offset.

    Reads Faust's consumer bookkeeping (its read and committed offsets); partitions whose
    high watermark is not known yet are left out.
    """
    wanted, lags = set(topics), {}
    for tp in consumer.assignment():
        if tp.topic not in wanted:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001, S112 - not fetched yet / being reassigned
            continue
        if high is None:
            continue
        read = consumer._read_offset.get(tp)  # noqa: SLF001 - no public accessor in Faust
        nxt = read + 1 if read is not None else (consumer._committed_offset.get(tp) or 0)  # noqa: SLF001
        lags[(tp.topic, tp.partition)] = max(int(high) - int(nxt), 0)
    return lags
