"""In-memory stand-ins of the worker's Redis stores, for in-process runs (``evaluate-record``).

The same :class:`~stream.worker.scoring.BatchScorer` then judges a recording offline as the
worker judges it through Kafka: per-patient statistics and learned normals kept in a dict
instead of Redis (one process, nothing shared, nothing kept after the run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stream.thresholds.adaptation import PatientState
from stream.thresholds.policy import RunningStats


class MemoryStatsStore:
    """The threshold statistics of :class:`~stream.worker.scoring.ThresholdGate`, in a dict."""

    def __init__(self) -> None:
        self.stats: dict[str, RunningStats] = {}

    async def fetch(self, patients: list[str]) -> dict[str, RunningStats]:
        """The statistics held for ``patients``."""
        return {p: self.stats[p] for p in patients if p in self.stats}

    async def merge(self, updates: dict[str, RunningStats]) -> None:
        """Add one batch's statistics."""
        for patient, update in updates.items():
            held = self.stats.get(patient)
            self.stats[patient] = held.merge(update) if held is not None else update


class MemoryNormalStore:
    """The patients' adaptation states of :class:`~stream.worker.adapting.AdaptationGate`."""

    def __init__(self) -> None:
        self.states: dict[str, PatientState] = {}

    async def fetch(self, patients: Iterable[str]) -> dict[str, PatientState]:
        """The states held for ``patients``."""
        return {p: self.states[p] for p in patients if p in self.states}

    async def store(self, states: Mapping[str, PatientState]) -> int:
        """Keep ``states``; returns the bytes they would take in Redis."""
        self.states.update(states)
        return sum(len(s.normal.to_bytes()) if s.normal is not None
                   else len(s.learner.to_bytes()) if s.learner is not None else 0
                   for s in states.values())
