"""RedisNormalStore against the real Redis: learning buffers and learned normals survive."""

from __future__ import annotations

import numpy as np
import pytest

from stream.settings import Settings
from stream.thresholds.adaptation import PatientState
from stream.thresholds.normal import NORMAL_VERSION, Learner, PatientNormal
from stream.thresholds.normal_store import RedisNormalStore
from stream.thresholds.redis_store import redis_client

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """A unique key prefix, cleaned afterwards (conftest)."""
    return redis_prefix


def _learner(beats: int) -> Learner:
    rng = np.random.default_rng(beats)
    learner = Learner()
    for _ in range(beats):
        learner.add(rng.normal(size=90), float(rng.normal(0.4, 0.02)))
    return learner


async def test_states_round_trip_expire_and_relearn(infra: Settings, prefix: str) -> None:
    client = redis_client(infra)
    try:
        store = RedisNormalStore(client, prefix, NORMAL_VERSION, ttl_s=3600)
        learning = _learner(30)
        normal = _learner(200).normal(NORMAL_VERSION)
        assert normal is not None
        written = await store.store({"a": PatientState(12.5, learning),
                                     "b": PatientState(3.0, None, normal)})
        assert written == len(learning.to_bytes()) + len(normal.to_bytes())
        # A new store (a restarted or another worker) reads the same states.
        again = await RedisNormalStore(client, prefix, NORMAL_VERSION).fetch(["a", "b", "c"])
        assert set(again) == {"a", "b"}
        assert again["a"].learn_from == 12.5 and again["a"].learner is not None
        assert again["a"].learner.seen == 30 and len(again["a"].learner.grids) == 30
        got = again["b"].normal
        assert isinstance(got, PatientNormal) and got.beats == normal.beats
        np.testing.assert_array_equal(got.template, normal.template)
        assert 0 < await client.pttl(store.key("a")) <= 3_600_000
        memory = await client.memory_usage(store.key("b"))
        assert memory is not None and memory < 1024  # a learned normal: under 1 KB in Redis
        # Another version of the rule does not read them (the patients learn again).
        assert await RedisNormalStore(client, prefix, "other").fetch(["a", "b"]) == {}
        assert await store.delete(["a", "b", "c"]) == 2
        assert await store.fetch(["a", "b"]) == {}
    finally:
        await client.aclose()
