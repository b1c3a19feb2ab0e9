"""Pure analysis of a benchmark run's output records and samples (no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream.wire.schemas import ScoreRecord


def batch_size_list(scores: Sequence[ScoreRecord]) -> list[int]:
    """Size of each micro-batch seen, in order: records sharing (worker, published_ms)."""
    return list(Counter((s.worker, s.published_ms) for s in scores).values())


def batch_sizes(scores: Sequence[ScoreRecord]) -> dict[str, float]:
    """Sizes of the micro-batches seen: records sharing (worker, published_ms) were one batch."""
    sizes = np.array(batch_size_list(scores))
    if sizes.size == 0:
        return {"batches": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {"batches": int(sizes.size), "mean": round(float(sizes.mean()), 1),
            "p50": float(np.percentile(sizes, 50)), "p95": float(np.percentile(sizes, 95)),
            "max": float(sizes.max())}


def per_second(scores: Sequence[ScoreRecord], start_ms: int | None = None
               ) -> list[tuple[float, int]]:
    """Beats published in each second since ``start_ms`` (default: the first publication)."""
    if not scores:
        return []
    start = min(s.published_ms for s in scores) if start_ms is None else start_ms
    counts = Counter((s.published_ms - start) // 1000 for s in scores)
    return [(float(t), counts.get(t, 0)) for t in range(int(max(counts)) + 1)]


def sustained_throughput(scores: Sequence[ScoreRecord], trim: float = 0.1) -> float:
    """Beats/s over the run with the first and last ``trim`` of its seconds left out.

    Start-up (consumer join, first fetches) and drain (the last partial second) would
    otherwise understate what the pipeline sustains.
    """
    series = per_second(scores)
    if len(series) < 5:
        span = (max(s.published_ms for s in scores) - min(s.sent_ms for s in scores)) / 1000
        return len(scores) / max(span, 1e-3) if scores else 0.0
    cut = max(1, int(len(series) * trim))
    middle = [count for _, count in series[cut:-cut]]
    return float(np.mean(middle))


def latency_series(scores: Sequence[ScoreRecord], start_ms: int
                   ) -> list[tuple[float, float]]:
    """p99 latency (ms) of the beats published in each second since ``start_ms``."""
    if not scores:
        return []
    start = start_ms
    by_second: dict[int, list[int]] = {}
    for s in scores:
        by_second.setdefault((s.published_ms - start) // 1000, []).append(
            s.published_ms - s.sent_ms)
    return [(float(t), float(np.percentile(v, 99))) for t, v in sorted(by_second.items())]


def latency_breakdown(scores: Sequence[ScoreRecord]) -> dict[str, dict[str, float]]:
    """Percentiles (ms) of the two legs of the end-to-end latency.

    ``to_worker``: producer send to the worker taking the beat's micro-batch (producer
    batching, broker, fetch, waiting in the stream buffer and for the batch to fill);
    ``in_worker``: that moment to publication (decode, model, Redis, building the records).
    """
    legs = {"to_worker": [s.received_ms - s.sent_ms for s in scores],
            "in_worker": [s.published_ms - s.received_ms for s in scores]}
    out = {}
    for name, values in legs.items():
        if not values:
            out[name] = {"p50": 0.0, "p95": 0.0, "p99": 0.0}
            continue
        p50, p95, p99 = np.percentile(np.array(values, dtype=np.float64), [50, 95, 99])
        out[name] = {"p50": float(p50), "p95": float(p95), "p99": float(p99)}
    return out


def cpu_seconds_per_1000(samples_by_proc: Sequence[Sequence[dict[str, Any]]],
                         beats: int) -> float:
    """CPU seconds all sampled processes used per 1,000 beats scored (start-up included)."""
    used = sum(v[-1]["cpu_s"] - v[0]["cpu_s"] for v in samples_by_proc if len(v) >= 2)
    return used / beats * 1000 if beats else 0.0


def cpu_share(samples: Sequence[dict[str, Any]]) -> float:
    """CPU seconds per wall second of a process, from the first and last /proc samples.

    Averaged over the whole sampling window (start-up and drain included), so a saturated
    worker reads below 1; :func:`cpu_seconds_per_1000` is the per-beat figure.
    """
    if len(samples) < 2:
        return 0.0
    first, last = samples[0], samples[-1]
    wall = last["t"] - first["t"]
    return (last["cpu_s"] - first["cpu_s"]) / wall if wall > 0 else 0.0
