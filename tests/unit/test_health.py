"""The worker's /health probes: concurrent, under one deadline (real coroutines, no services)."""

from __future__ import annotations

import asyncio
import time

from stream.worker.health import probe, tcp_ok
from tests.ports import free_port


async def _after(seconds: float, value: bool) -> bool:
    await asyncio.sleep(seconds)
    return value


def test_probes_run_concurrently_and_a_stuck_one_counts_as_down() -> None:
    began = time.monotonic()
    kafka, redis = asyncio.run(probe([_after(0.3, False), _after(0.3, True)], _after(60, True),
                                     deadline=0.6))
    assert (kafka, redis) == (True, False)
    assert time.monotonic() - began < 5  # not 0.6 + 60, and not one probe after another


def test_one_reachable_broker_is_enough_and_a_failing_redis_is_down() -> None:
    async def broken() -> bool:
        raise ConnectionError("refused")

    assert asyncio.run(probe([_after(0.0, False), _after(0.1, True)], broken())) == (True, False)
    assert asyncio.run(probe([_after(0.0, False)], None)) == (False, False)


def test_a_closed_port_is_not_reachable() -> None:
    assert asyncio.run(tcp_ok("127.0.0.1", free_port(), timeout=1.0)) is False
