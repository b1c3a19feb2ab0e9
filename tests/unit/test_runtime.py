"""A micro-batch through WorkerRuntime: every record ends as a score or a dead letter."""

from __future__ import annotations

import json

import numpy as np

from stream.settings import Settings
from stream.thresholds.policy import ThresholdPolicy
from stream.wire.decode import RawInput
from stream.worker.pipeline import BatchResult, WorkerRuntime
from stream.worker.scoring import BatchScorer, ThresholdGate
from tests.fakes import ExplodingPool, immediate


def record(offset: int, value: bytes, key: bytes = b"p1") -> RawInput:
    return RawInput("ecg.beats", 0, offset, key, value, 10)


async def test_mixed_batch_is_fully_accounted_for() -> None:
    published: list[BatchResult] = []

    async def publish(result: BatchResult) -> None:
        published.append(result)

    scorer = BatchScorer(lambda b: np.abs(b).mean(axis=1), ThresholdGate(
        ThresholdPolicy(0.9, mode="static"), None), "v", "w1", run=immediate)
    runtime = WorkerRuntime(Settings(), scorer, publish, worker="w1")
    good = [json.dumps({"schema": 1, "patient": "p1", "seq": i,
                        "samples": np.sin(np.arange(140) / (i + 1)).round(5).tolist(),
                        "sent_ms": 1}).encode() for i in range(5)]
    bad = [b"{", b"", json.dumps({"schema": 9}).encode()]
    records = [record(i, v) for i, v in enumerate(good + bad)]
    result = await runtime.handle_beats(records)

    assert len(result.scores) == 5 and len(result.dead) == 3
    assert sorted(d.offset for d in result.dead) == [5, 6, 7]
    assert {d.worker for d in result.dead} == {"w1"}
    assert published == [result]
    assert runtime.counters.records == 8 and runtime.counters.beats_scored == 5
    assert sum(runtime.counters.dead_letters.values()) == 3


async def test_a_frame_that_breaks_the_segmenter_is_dead_lettered_alone() -> None:
    published: list[BatchResult] = []

    async def publish(result: BatchResult) -> None:
        published.append(result)

    scorer = BatchScorer(lambda b: np.abs(b).mean(axis=1), ThresholdGate(
        ThresholdPolicy(0.9, mode="static"), None), "v", "w1", run=immediate)
    runtime = WorkerRuntime(Settings(), scorer, publish, ExplodingPool(), worker="w1")
    frames = [json.dumps({"schema": 1, "patient": p, "frame_seq": i, "start_sample": 0,
                          "fs": 140.0, "samples": [0.1] * 16, "sent_ms": 1}).encode()
              for i, p in enumerate(["a", "boom", "b"])]
    records = [RawInput("ecg.signal", 0, i, p.encode(), v, 10)
               for i, (p, v) in enumerate(zip(["a", "boom", "b"], frames, strict=True))]
    result = await runtime.handle_frames(records)
    assert [s.patient for s in result.scores] == ["a", "b"]
    assert [(d.reason, d.offset) for d in result.dead] == [("unprocessable", 1)]
