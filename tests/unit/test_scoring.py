"""Scoring and deciding one micro-batch, and degraded mode when Redis fails."""

from __future__ import annotations

import numpy as np
import pytest

from stream.beats import PendingBeat, to_model_input
from stream.thresholds.policy import RunningStats, ThresholdPolicy
from stream.worker.scoring import BatchScorer, ThresholdGate
from tests.fakes import FetchThenFailStore, InMemoryStatsStore, immediate


def beat(patient: str, seq: int) -> PendingBeat:
    return PendingBeat(patient, "beat", seq, None, np.zeros(140, np.float32), None, 1, 2)


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
    records = (await BatchScorer(score, gate, "v1", "w", run=immediate).score(
        [beat("a", 0), beat("a", 1), beat("b", 0)])).records
    assert calls == [(3, 140)]
    assert [r.anomalous for r in records] == [False, True, False]
    assert {r.threshold for r in records} == {0.5} and records[1].model_version == "v1"


async def test_redis_outage_degrades_then_catches_up() -> None:
    store = InMemoryStatsStore()
    gate = ThresholdGate(ThresholdPolicy(0.5, mode="adaptive", warmup_beats=1), store)
    scorer = BatchScorer(lambda b: np.full(len(b), 0.2, np.float32), gate, "v", run=immediate)
    first = await scorer.score([beat("a", 0), beat("a", 1)])
    assert not gate.degraded and store.data["a"].count == 2 and not first.unmerged

    store.up = False
    out = await scorer.score([beat("a", 2)])
    assert gate.degraded and out.records[0].degraded and out.records[0].threshold == 0.5
    assert out.unmerged["a"].count == 1, "the update Redis did not take comes back (journal)"

    store.up = True
    records = (await scorer.score([beat("a", 3)])).records
    assert not gate.degraded and not records[0].degraded
    await store.merge(out.unmerged)  # what the journal agent does once Redis is back
    assert store.data["a"].count == 4 and store.data[""].count == 4


async def test_batch_judged_on_fetched_stats_is_not_marked_degraded() -> None:
    # The CI failure: a batch judged on patient thresholds whose merge then failed was
    # stamped degraded=true, threshold_source=patient. A record carries its own batch's state.
    store = FetchThenFailStore()
    store.data["a"] = RunningStats.from_values([0.1, 0.3] * 20)
    gate = ThresholdGate(ThresholdPolicy(0.1, mode="adaptive", warmup_beats=1), store)
    scorer = BatchScorer(lambda b: np.full(len(b), 0.2, np.float32), gate, "v", run=immediate)
    out = await scorer.score([beat("a", 0)])
    assert out.records[0].threshold_source == "patient" and not out.records[0].degraded
    assert gate.degraded, "the gate now knows Redis is away"
    assert out.unmerged["a"].count == 1
    store.up = False
    degraded = (await scorer.score([beat("a", 1)])).records[0]
    assert degraded.degraded and degraded.threshold_source == "static"


async def test_a_beat_the_model_cannot_score_is_rejected_alone() -> None:
    def score(batch):
        if (batch[:, 0] == 7).any():
            raise ValueError("beats contain NaN or infinite values")
        return np.full(len(batch), 0.2, np.float32)

    beats = [beat("a", i) for i in range(5)]
    poison = PendingBeat("a", "beat", 9, None, np.full(140, 7, np.float32), None, 1, 2)
    bad_input = PendingBeat("a", "beat", 10, None, np.full(140, np.inf, np.float32), None, 1, 2)
    gate = ThresholdGate(ThresholdPolicy(0.5, mode="static"), None)
    out = await BatchScorer(score, gate, "v", run=immediate).score(
        beats[:2] + [poison, bad_input] + beats[2:])
    assert [r.seq for r in out.records] == [0, 1, 2, 3, 4]
    assert sorted(reason for _, reason, _ in out.rejected) == ["model_error", "unprocessable"]
