"""The worker's per-patient segmenter pool: refused frames, and idle flushing in event time."""

from __future__ import annotations

import numpy as np

from stream.schemas import FrameMessage
from stream.segmenters import SegmenterPool
from stream.settings import Settings


def frame(patient: str, seq: int, sent_ms: int, size: int = 64) -> FrameMessage:
    samples = np.sin(np.arange(seq * size, (seq + 1) * size) / 7.0).tolist()
    return FrameMessage(schema=1, patient=patient, frame_seq=seq, start_sample=seq * size,
                        fs=140.0, samples=samples, sent_ms=sent_ms)


def test_duplicate_frame_is_refused_for_the_dead_letter_topic() -> None:
    pool = SegmenterPool(Settings())
    pool.push(frame("a", 0, 0), 0)
    _, refused = pool.push(frame("a", 0, 0), 0)
    assert [reason for reason, _ in refused] == ["frame_duplicate"]


def test_idle_is_judged_in_event_time_not_arrival_time() -> None:
    pool = SegmenterPool(Settings(segment_idle_flush_ms=1000))
    pool.push(frame("a", 0, sent_ms=0), received_ms=10_000)
    pool.push(frame("b", 0, sent_ms=500), received_ms=10_000)
    # A backlog: frames arrive late, but by producer time patient a is only 500 ms behind.
    pool.flush_idle(now=10_100)
    assert not pool._by_patient["a"].flushed
    pool.push(frame("b", 1, sent_ms=1_500), received_ms=10_200)
    pool.flush_idle(now=10_300)
    assert pool._by_patient["a"].flushed and not pool._by_patient["b"].flushed


def test_a_quiet_stream_flushes_everyone() -> None:
    pool = SegmenterPool(Settings(segment_idle_flush_ms=1000))
    pool.push(frame("a", 0, sent_ms=0), received_ms=0)
    pool.push(frame("b", 0, sent_ms=0), received_ms=0)
    pool.flush_idle(now=999)
    assert not pool._by_patient["a"].flushed
    pool.flush_idle(now=1000)
    assert pool._by_patient["a"].flushed and pool._by_patient["b"].flushed
