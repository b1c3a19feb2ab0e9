"""redis.asyncio against the real Redis the session started (never a mock: faust's own
tests/integration/cache/test_redis.py explains how a mocked Redis hid a sync/async bug)."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis

from stream.settings import Settings


async def test_redis_asyncio_round_trip(infra: Settings, unique: Callable[[str], str]) -> None:
    prefix = unique("redis")
    client = aioredis.Redis.from_url(infra.redis_url)
    try:
        await client.hset(f"{prefix}:stats", mapping={"count": 3, "mean": 0.25})
        await client.hincrbyfloat(f"{prefix}:stats", "mean", 0.5)
        stats = await client.hgetall(f"{prefix}:stats")
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(f"{prefix}:n").incr(f"{prefix}:n")
            results = await pipe.execute()
    finally:
        await client.delete(f"{prefix}:stats", f"{prefix}:n")
        await client.aclose()
    assert stats == {b"count": b"3", b"mean": b"0.75"}
    assert results == [1, 2]
