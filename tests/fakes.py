"""In-memory stand-ins for Kafka, Redis, the segmenter pool and the thread pool in unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from stream.beats import PendingBeat
from stream.thresholds.policy import RunningStats
from stream.wire.schemas import FrameMessage, SignalEvent

T = TypeVar("T")


async def immediate(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` inline: a ``BatchScorer(run=...)`` without a worker thread."""
    return fn(*args)


class ListProducer:
    """A Kafka producer stand-in that keeps every ``(topic, key, value)`` sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> None:
        """Record one message."""
        self.sent.append((topic, key, value))

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever in flight."""


class InMemoryStatsStore:
    """``RedisStatsStore`` in a dict (``data``); set ``up = False`` and every call fails."""

    def __init__(self, up: bool = True) -> None:
        self.data: dict[str, RunningStats] = {}
        self.up = up

    def _check(self) -> None:
        if not self.up:
            raise ConnectionError("redis down")

    async def fetch(self, patients: Iterable[str]) -> dict[str, RunningStats]:
        """The stored statistics of those ``patients`` that have any."""
        self._check()
        return {p: self.data[p] for p in patients if p in self.data}

    async def merge(self, updates: Mapping[str, RunningStats]) -> None:
        """Add ``updates`` to the stored statistics."""
        self._check()
        for key, stats in updates.items():
            self.data[key] = self.data[key].merge(stats) if key in self.data else stats


class FetchThenFailStore(InMemoryStatsStore):
    """A stats store that answers the fetch, then goes away before every merge."""

    async def merge(self, updates: Mapping[str, RunningStats]) -> None:
        """Always fails, as Redis lost between the fetch and the merge."""
        raise ConnectionError("redis went away")


class InMemoryJournalStore:
    """A journal store that fails its first ``failures`` merges, then merges each offset once."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.seen: set[tuple[str, int, int]] = set()

    async def merge_journal(self, updates: Mapping[str, RunningStats], topic: str,
                            partition: int, offset: int) -> bool:
        """True when ``(topic, partition, offset)`` was not merged before."""
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis down")
        new = (topic, partition, offset) not in self.seen
        self.seen.add((topic, partition, offset))
        return new


class ExplodingPool:
    """A segmenter pool that fails on ``bad_patient``'s frames and cuts one beat from others."""

    def __init__(self, bad_patient: str = "boom") -> None:
        self.bad_patient = bad_patient

    async def prepare(self, fs: float) -> None:
        """Nothing to fit."""

    def push(self, frame: FrameMessage, received_ms: int, partition: int = -1
             ) -> tuple[list[PendingBeat], list[tuple[str, str]]]:
        """One beat per frame, or ``MemoryError`` for the bad patient (any segmenter bug)."""
        if frame.patient == self.bad_patient:
            raise MemoryError("template stack")
        beat = PendingBeat(frame.patient, "continuous", frame.frame_seq, frame.start_sample,
                           np.sin(np.arange(140, dtype=np.float32)), None, 1, received_ms)
        return [beat], []

    def take_signal_events(self) -> list[SignalEvent]:
        """No signal events."""
        return []
