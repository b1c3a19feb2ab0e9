"""Score a micro-batch and decide: model off the event loop, thresholds from Redis statistics.

The detector (models/) returns reconstruction errors; :class:`ThresholdGate` turns them into
decisions with the threshold policy and the shared Redis statistics, and keeps working on the
static threshold when Redis is away (degraded). Statistics updates that Redis did not take are
handed back to the caller, which publishes them to the statistics journal topic with the
batch's outputs (so they survive a crash of the worker; :mod:`stream.thresholds.journal` merges
them once Redis is back). A beat the model cannot score is rejected on its own, never its whole
batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH
from stream.beats import PendingBeat
from stream.thresholds.adaptation import Judgement
from stream.thresholds.policy import RunningStats, ThresholdPolicy, ThresholdSource
from stream.wire.decode import RawInput
from stream.wire.schemas import ScoreRecord, now_ms
from stream.worker.adapting import AdaptationGate, adapts

log = logging.getLogger(__name__)


class Scorer(Protocol):
    """The model as :class:`BatchScorer` calls it: ``models.detector.Detector.score``."""

    def __call__(self, beats: NDArray[np.float32], /) -> NDArray[np.float32]:
        """Reconstruction errors ``(n,)`` of z-normalized beats ``(n, 140)``."""


Rejected = tuple[RawInput | None, str, str]
"""A record that could not become a beat for the model, or a beat the model could not score:
(source record, dead-letter reason, detail)."""


class StatsStore(Protocol):
    """What :class:`ThresholdGate` needs of the statistics store (``RedisStatsStore``).

    Called by ThresholdGate once per micro-batch: :meth:`fetch` before judging it,
    :meth:`merge` after.
    """

    async def fetch(self, patients: list[str]) -> dict[str, RunningStats]:
        """Statistics of ``patients`` before the batch; raises when the store is away."""

    async def merge(self, updates: dict[str, RunningStats]) -> None:
        """Add one batch's statistics atomically; raises when the store is away."""


@dataclass
class GateDecision:
    """The judgement of one micro-batch.

    Attributes:
        thresholds: per beat, float64 ``(n,)``.
        sources: per beat, ``"static"`` or ``"patient"``.
        decisions: per beat, bool ``(n,)``.
        degraded: the batch was judged without the shared statistics (Redis away): every
            beat on the static threshold.
        unmerged: statistics updates of the batch that Redis did not take (empty when it
            did); the caller journals them.
    """

    thresholds: NDArray[np.float64]
    sources: list[ThresholdSource]
    decisions: NDArray[np.bool_]
    degraded: bool
    unmerged: dict[str, RunningStats] = field(default_factory=dict)


class ThresholdGate:
    """Threshold policy + Redis statistics, with degraded mode when Redis fails.

    While Redis is unreachable, beats are judged against the static threshold (their records
    say ``degraded``) and each batch's statistics updates come back in
    :attr:`GateDecision.unmerged` for the journal. :attr:`degraded` is the gate's current
    state (health, metrics); each batch carries its own in :attr:`GateDecision.degraded`.
    """

    def __init__(self, policy: ThresholdPolicy, store: StatsStore | None) -> None:
        self.policy, self.store = policy, store
        self.degraded = store is None and policy.mode == "adaptive"

    async def decide(self, patients: list[str], scores: NDArray[np.float32]) -> GateDecision:
        """Thresholds, their sources and decisions for one batch; stats merged once."""
        stats, fetched = await self._fetch(patients)
        thresholds, sources = self.policy.thresholds(patients, stats)
        decisions = self.policy.decide(scores, thresholds)
        adaptive = self.policy.mode == "adaptive"
        unmerged: dict[str, RunningStats] = {}
        store = self.store
        if adaptive and store is not None:
            updates = self.policy.batch_updates(patients, scores, decisions)
            # A failed fetch means Redis is away: do not wait for it a second time.
            if updates and not (fetched and await self._merge(store, updates)):
                unmerged = updates
        return GateDecision(thresholds, sources, decisions, adaptive and not fetched, unmerged)

    async def _fetch(self, patients: list[str]) -> tuple[dict[str, RunningStats], bool]:
        if self.store is None or self.policy.mode == "static":
            return {}, self.store is not None or self.policy.mode == "static"
        try:
            stats = await self.store.fetch(patients)
        except Exception as exc:  # noqa: BLE001 - any Redis/OS error means degraded
            self._set_degraded(True, exc)
            return {}, False
        self._set_degraded(False)
        return stats, True

    async def _merge(self, store: StatsStore, updates: dict[str, RunningStats]) -> bool:
        try:
            await store.merge(updates)
        except Exception as exc:  # noqa: BLE001
            self._set_degraded(True, exc)
            return False
        return True

    def _set_degraded(self, value: bool, exc: Exception | None = None) -> None:
        if value and not self.degraded:
            log.warning("degraded: Redis unavailable (%r); static threshold, statistics "
                        "updates journalled to Kafka", exc)
        elif not value and self.degraded:
            log.warning("degraded mode over: Redis is back, adaptive thresholds resumed")
        self.degraded = value


@dataclass
class ScoredBatch:
    """What :meth:`BatchScorer.score` made of a micro-batch.

    Attributes:
        records: one score record per beat scored, in input order.
        beats: the beats of ``records``, in the same order.
        rejected: beats the model could not score (source, reason, detail).
        unmerged: statistics updates Redis did not take, for the journal.
    """

    records: list[ScoreRecord] = field(default_factory=list)
    beats: list[PendingBeat] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unmerged: dict[str, RunningStats] = field(default_factory=dict)


class BatchScorer:
    """Scores a micro-batch of :class:`PendingBeat` into :class:`ScoreRecord` objects."""

    def __init__(self, score: Scorer, gate: ThresholdGate, model_version: str,
                 worker: str = "", run: Callable[..., Awaitable[object]] | None = None,
                 adaptation: AdaptationGate | None = None) -> None:
        self._score, self.gate, self.adaptation = score, gate, adaptation
        self.model_version, self.worker = model_version, worker
        self._run = run or asyncio.to_thread
        self.last_inference_s: float | None = None  # seconds of the latest model call

    async def score(self, beats: list[PendingBeat]) -> ScoredBatch:
        """One model call (in a thread, off the event loop) and one threshold round trip.

        Beats with a non-finite model input are rejected before the model; when the model
        call fails, the batch is split in halves until the beats that fail are alone, and
        those are rejected (reason ``model_error``); a non-finite score is rejected too.
        """
        out = ScoredBatch()
        ok = []
        for beat in beats:
            if beat.samples.shape != (BEAT_LENGTH,) or not np.isfinite(beat.samples).all():
                out.rejected.append((beat.source, "unprocessable",
                                     "model input not finite or not 140 samples"))
            else:
                ok.append(beat)
        started = time.perf_counter()
        scored, scores = await self._isolating(ok, out.rejected)
        self.last_inference_s = time.perf_counter() - started
        if not scored:
            return out
        decision = await self.gate.decide([beat.patient for beat in scored], scores)
        verdicts: list[Judgement | None] = [None] * len(scored)
        adapt_degraded = False
        if self.adaptation is not None:
            verdicts, adapt_degraded = await self.adaptation.judge(scored)
        published = now_ms()
        out.unmerged, out.beats = decision.unmerged, scored
        out.records = [
            ScoreRecord(patient=b.patient, mode=b.mode, seq=b.seq, onset_sample=b.onset_sample,
                        fiducial_sample=b.fiducial_sample,
                        score=s, threshold=t, threshold_source=src,
                        **_verdict(d, v), model_version=self.model_version,
                        resampled_from=b.resampled_from, **b.rhythm_fields(),
                        degraded=decision.degraded or (adapt_degraded and adapts(b)),
                        sent_ms=b.sent_ms, frame_sent_ms=b.cut_sent_ms,
                        received_ms=b.received_ms, published_ms=published,
                        worker=self.worker)
            for b, s, t, src, d, v in zip(scored, scores.tolist(), decision.thresholds.tolist(),
                                          decision.sources, decision.decisions.tolist(), verdicts,
                                          strict=True)]
        return out

    async def _isolating(self, beats: list[PendingBeat], rejected: list[Rejected]
                         ) -> tuple[list[PendingBeat], NDArray[np.float32]]:
        """Scores of ``beats``; beats that make the model fail are moved to ``rejected``."""
        if not beats:
            return [], np.zeros(0, np.float32)
        try:
            batch = np.stack([beat.samples for beat in beats])
            scores = np.asarray(await self._run(self._score, batch), dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - isolate the beat(s) that fail
            if len(beats) == 1:
                log.error("beat of patient %s could not be scored: %r", beats[0].patient, exc)
                rejected.append((beats[0].source, "model_error", repr(exc)[:300]))
                return [], np.zeros(0, np.float32)
            half = len(beats) // 2
            first, a = await self._isolating(beats[:half], rejected)
            second, b = await self._isolating(beats[half:], rejected)
            return first + second, np.concatenate([a, b])
        finite = np.isfinite(scores)
        if finite.all():
            return beats, scores
        for beat in (b for b, f in zip(beats, finite, strict=True) if not f):
            rejected.append((beat.source, "model_error", "non-finite reconstruction error"))
        return [b for b, f in zip(beats, finite, strict=True) if f], scores[finite]


def _verdict(model: bool, judged: Judgement | None) -> dict[str, object]:
    """A score record's decision fields: the model's, or the patient's normal's."""
    if judged is None:
        return {"anomalous": model, "judged_by": "model",
                "anomaly_reason": "model" if model else None}
    return {"anomalous": judged.anomalous,
            "judged_by": "learning" if judged.learning else "patient",
            "anomaly_reason": judged.reason, "morphology_distance": judged.distance,
            "morphology_threshold": judged.threshold}
