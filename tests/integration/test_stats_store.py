"""RedisStatsStore against the real Redis: merge, fetch, concurrency and restarts."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

import numpy as np
import pytest
import redis.asyncio as aioredis

from stream.settings import Settings
from stream.thresholds.policy import GLOBAL_STATS, RunningStats, ThresholdPolicy
from stream.thresholds.redis_store import RedisStatsStore, redis_client

ALPHA = 0.05


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """A unique key prefix, cleaned afterwards (conftest)."""
    return redis_prefix


async def test_merge_then_fetch(infra: Settings, prefix: str) -> None:
    client = redis_client(infra)
    store = RedisStatsStore(client, prefix)
    try:
        first = {"p1": RunningStats.from_values([0.1, 0.2, 0.3], ALPHA),
                 GLOBAL_STATS: RunningStats.from_values([0.1, 0.2, 0.3], ALPHA)}
        second = {"p1": RunningStats.from_values([0.5], ALPHA)}
        await store.merge(first)
        await store.merge(second)
        await store.merge({})
        got = await store.fetch(["p1", "unknown", GLOBAL_STATS])
        assert await client.exists(f"{prefix}:stats:p:p1", f"{prefix}:stats:global") == 2
    finally:
        await client.aclose()
    assert set(got) == {"p1", GLOBAL_STATS}
    expected = first["p1"].merge(second["p1"])
    assert got["p1"].count == 4
    for name in ("mean", "m2", "ewma", "ewma_weight"):
        assert getattr(got["p1"], name) == pytest.approx(getattr(expected, name), rel=1e-12)
    assert got[GLOBAL_STATS] == first[GLOBAL_STATS]  # floats survive the round trip exactly


async def _worker(settings: Settings, prefix: str, batches: list[np.ndarray]) -> None:
    client = redis_client(settings)
    store = RedisStatsStore(client, prefix)
    try:
        for batch in batches:
            stats = RunningStats.from_values(batch, ALPHA)
            await store.merge({"shared": stats, GLOBAL_STATS: stats})
    finally:
        await client.aclose()


async def test_concurrent_workers_lose_no_update(infra: Settings, prefix: str) -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 0.1, size=(2, 150, 8))  # 2 workers x 150 batches x 8 beats
    await asyncio.gather(*(_worker(infra, prefix, list(v)) for v in values))
    client = redis_client(infra)
    try:
        got = await RedisStatsStore(client, prefix).fetch(["shared", GLOBAL_STATS])
    finally:
        await client.aclose()
    flat = values.ravel()
    for stats in got.values():
        assert stats.count == flat.size
        assert stats.mean == pytest.approx(flat.mean(), rel=1e-12)
        assert stats.variance == pytest.approx(flat.var(), rel=1e-10)
        assert stats.ewma_weight == pytest.approx(1 - (1 - ALPHA) ** flat.size)


async def test_restart_sees_the_same_stats(infra: Settings, prefix: str) -> None:
    policy = ThresholdPolicy(static_threshold=0.5, warmup_beats=4, ewma_alpha=ALPHA)
    patients = ["a", "b", "a", "a", "b", "a"]
    scores = np.array([0.1, 0.2, 0.15, 0.9, 0.25, 0.12])
    first = redis_client(infra)
    try:
        store = RedisStatsStore(first, prefix)
        thresholds, _ = policy.thresholds(patients, await store.fetch(patients))
        await store.merge(policy.batch_updates(patients, scores,
                                               policy.decide(scores, thresholds)))
        before = await store.fetch(["a", "b", GLOBAL_STATS])
    finally:
        await first.aclose()
    second = redis_client(infra)  # a restarted worker: new connection, new script cache entry
    try:
        await second.script_flush()  # even a flushed script cache (NOSCRIPT) is handled
        store = RedisStatsStore(second, prefix)
        after = await store.fetch(["a", "b", GLOBAL_STATS])
        await store.merge({"a": RunningStats.from_values([0.2], ALPHA)})
        assert (await store.fetch(["a"]))["a"].count == 4
    finally:
        await second.aclose()
    assert after == before
    assert before["a"].count == 3 and before["b"].count == 2 and before[GLOBAL_STATS].count == 5


async def test_redis_errors_propagate(unique: Callable[[str], str]) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5,
                            retry=None)
    try:
        with pytest.raises((aioredis.ConnectionError, OSError)):
            await RedisStatsStore(client, unique("down")).fetch(["p"])
    finally:
        await client.aclose()


async def test_merge_round_trip_time_256_beats_64_patients(infra: Settings, prefix: str) -> None:
    """Not a benchmark gate: records the figure for the docs (printed with -s)."""
    rng = np.random.default_rng(1)
    policy = ThresholdPolicy(static_threshold=1.0, ewma_alpha=ALPHA)
    patients = [f"p{i % 64}" for i in range(256)]
    client = redis_client(infra)
    store = RedisStatsStore(client, prefix)
    try:
        fetch_s, merge_s = [], []
        for _ in range(50):
            scores = rng.gamma(2.0, 0.1, 256)
            t0 = time.perf_counter()
            stats = await store.fetch([*patients, GLOBAL_STATS])
            t1 = time.perf_counter()
            thresholds, _ = policy.thresholds(patients, stats)
            updates = policy.batch_updates(patients, scores, policy.decide(scores, thresholds))
            t2 = time.perf_counter()
            await store.merge(updates)
            merge_s.append(time.perf_counter() - t2)
            fetch_s.append(t1 - t0)
    finally:
        await client.aclose()
    print(f"\nfetch 65 keys: median {np.median(fetch_s) * 1e3:.2f} ms; "
          f"merge 65 keys: median {np.median(merge_s) * 1e3:.2f} ms, "
          f"p95 {np.percentile(merge_s, 95) * 1e3:.2f} ms")
    assert len(merge_s) == 50


async def test_prepare_loads_the_merge_script(infra: Settings, prefix: str) -> None:
    from stream.thresholds.redis_store import MERGE_LUA

    client = redis_client(infra)
    store = RedisStatsStore(client, prefix)
    try:
        await client.script_flush()
        await store.prepare()
        digest = hashlib.sha1(MERGE_LUA.encode()).hexdigest()  # noqa: S324 - Redis's script id
        assert await client.script_exists(digest) == [True]
    finally:
        await client.aclose()


async def test_patient_keys_expire_the_global_key_does_not(infra: Settings, prefix: str) -> None:
    client = redis_client(infra)
    store = RedisStatsStore(client, prefix, ttl_s=1000.0)
    try:
        await store.merge({"gone": RunningStats.from_values([0.1]),
                           GLOBAL_STATS: RunningStats.from_values([0.1])})
        ttl = await client.pttl(f"{prefix}:stats:p:gone")
        assert 990_000 < ttl <= 1_000_000
        assert await client.pttl(f"{prefix}:stats:global") == -1
        await RedisStatsStore(client, prefix, ttl_s=0.05).merge(
            {"gone": RunningStats.from_values([0.2])})
        await asyncio.sleep(0.3)
        assert await store.fetch(["gone", GLOBAL_STATS]) == {
            GLOBAL_STATS: RunningStats.from_values([0.1])}, "gone: expired; global: kept"
    finally:
        await client.aclose()


async def test_a_journal_record_merges_once(infra: Settings, prefix: str) -> None:
    client = redis_client(infra)
    store = RedisStatsStore(client, prefix)
    updates = {"p": RunningStats.from_values([1.0, 2.0]),
               GLOBAL_STATS: RunningStats.from_values([1.0, 2.0])}
    try:
        assert await store.merge_journal(updates, "j", 0, 5)
        assert not await store.merge_journal(updates, "j", 0, 5), "redelivered: skipped"
        assert not await store.merge_journal(updates, "j", 0, 4), "older offset: skipped"
        assert await store.merge_journal(updates, "j", 1, 4), "another partition"
        got = await store.fetch(["p", GLOBAL_STATS])
    finally:
        await client.aclose()
    assert got["p"].count == 4 and got[GLOBAL_STATS].count == 4
