"""Analysis of a benchmark run's output records (pure)."""

from __future__ import annotations

import pytest

from stream.runs.bench_stats import (
    batch_sizes,
    cpu_seconds_per_1000,
    cpu_share,
    latency_breakdown,
    per_second,
)
from stream.wire.schemas import ScoreRecord


def _rec(seq: int, sent: int, received: int, published: int, worker: str = "w") -> ScoreRecord:
    return ScoreRecord(patient="p", mode="beat", seq=seq, score=1.0, threshold=2.0,
                       threshold_source="static", anomalous=False, model_version="v",
                       sent_ms=sent, received_ms=received, published_ms=published, worker=worker)


def test_batch_sizes_group_by_worker_and_publish_time() -> None:
    scores = [_rec(0, 0, 0, 10), _rec(1, 0, 0, 10), _rec(2, 0, 0, 10, worker="x"),
              _rec(3, 0, 0, 20)]
    sizes = batch_sizes(scores)
    assert sizes["batches"] == 3 and sizes["max"] == 2 and sizes["mean"] == pytest.approx(1.3)
    assert batch_sizes([])["batches"] == 0


def test_latency_breakdown_splits_the_two_legs() -> None:
    scores = [_rec(i, 0, 100 + i, 130 + i) for i in range(101)]
    legs = latency_breakdown(scores)
    assert legs["to_worker"]["p50"] == 150 and legs["to_worker"]["p99"] == pytest.approx(199)
    assert legs["in_worker"] == {"p50": 30.0, "p95": 30.0, "p99": 30.0}
    assert latency_breakdown([])["in_worker"]["p99"] == 0.0


def test_per_second_and_cpu_share() -> None:
    scores = [_rec(0, 0, 0, 1000), _rec(1, 0, 0, 1500), _rec(2, 0, 0, 3200)]
    assert per_second(scores) == [(0.0, 2), (1.0, 0), (2.0, 1)]
    samples = [{"t": 0.0, "cpu_s": 1.0}, {"t": 4.0, "cpu_s": 3.0}]
    assert cpu_share(samples) == pytest.approx(0.5) and cpu_share(samples[:1]) == 0.0


def test_cpu_seconds_per_1000_beats_sums_the_processes() -> None:
    worker_a = [{"t": 0.0, "cpu_s": 1.0}, {"t": 9.0, "cpu_s": 3.0}]
    worker_b = [{"t": 0.0, "cpu_s": 0.5}, {"t": 9.0, "cpu_s": 1.5}]
    assert cpu_seconds_per_1000([worker_a, worker_b, worker_a[:1]], 6000) == pytest.approx(0.5)
    assert cpu_seconds_per_1000([worker_a], 0) == 0.0
