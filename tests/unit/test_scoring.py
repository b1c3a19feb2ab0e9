"""Scoring and deciding one micro-batch, and degraded mode when Redis fails."""

from __future__ import annotations

import numpy as np
import pytest

from stream.scoring import BatchScorer, PendingBeat, ThresholdGate, to_model_input
from stream.threshold import RunningStats, ThresholdPolicy


class FlakyStore:
    """An in-memory stand-in for RedisStatsStore that can be switched off."""

    def __init__(self) -> None:
        self.data: dict[str, RunningStats] = {}
        self.up = True

    async def fetch(self, patients):
        if not self.up:
            raise ConnectionError("redis down")
        return {p: self.data[p] for p in patients if p in self.data}

    async def merge(self, updates):
        if not self.up:
            raise ConnectionError("redis down")
        for key, stats in updates.items():
            self.data[key] = self.data[key].merge(stats) if key in self.data else stats


def beat(patient: str, seq: int) -> PendingBeat:
    return PendingBeat(patient, "beat", seq, None, np.zeros(140, np.float32), None, 1, 2)


async def immediate(fn, *args):
    return fn(*args)


@pytest.mark.parametrize("length", [140, 120, 187])
def test_model_input_is_140_and_normalized(length: int) -> None:
    x = to_model_input(np.sin(np.linspace(0, 6, length)) * 3 + 1)
    assert x.shape == (140,) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-5 and float(x.std(ddof=1)) == pytest.approx(1, abs=1e-5)


async def test_scores_and_decisions_in_one_call() -> None:
    calls = []

    def score(batch):
        calls.append(batch.shape)
        return np.array([0.1, 0.9, 0.3], dtype=np.float32)

    gate = ThresholdGate(ThresholdPolicy(0.5, mode="static"), None)
    records = await BatchScorer(score, gate, "v1", "w", run=immediate).score(
        [beat("a", 0), beat("a", 1), beat("b", 0)])
    assert calls == [(3, 140)]
    assert [r.anomalous for r in records] == [False, True, False]
    assert {r.threshold for r in records} == {0.5} and records[1].model_version == "v1"


async def test_redis_outage_degrades_then_catches_up() -> None:
    store = FlakyStore()
    gate = ThresholdGate(ThresholdPolicy(0.5, mode="adaptive", warmup_beats=1), store)
    scorer = BatchScorer(lambda b: np.full(len(b), 0.2, np.float32), gate, "v", run=immediate)
    await scorer.score([beat("a", 0), beat("a", 1)])
    assert not gate.degraded and store.data["a"].count == 2

    store.up = False
    records = await scorer.score([beat("a", 2)])
    assert gate.degraded and records[0].degraded and records[0].threshold == 0.5

    store.up = True
    records = await scorer.score([beat("a", 3)])
    assert not gate.degraded and not records[0].degraded
    assert store.data["a"].count == 4, "updates made during the outage are merged on return"
    assert store.data[""].count == 4
