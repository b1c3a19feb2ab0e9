"""Score a micro-batch and decide: model off the event loop, thresholds from Redis statistics.

The detector (models/) returns reconstruction errors; :class:`ThresholdGate` turns them into
decisions with the threshold policy and the shared Redis statistics, and keeps working on the
static threshold when Redis is away (degraded), re-merging the missed updates when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.normalize import BEAT_LENGTH, znormalize
from stream.fiducial import resample_beat
from stream.schemas import BeatMessage, ScoreRecord, now_ms
from stream.threshold import RunningStats, ThresholdPolicy, ThresholdSource

log = logging.getLogger(__name__)
Scorer = Callable[[NDArray[np.float32]], NDArray[np.float32]]


@dataclass(frozen=True)
class PendingBeat:
    """A beat ready for the model.

    Attributes:
        samples: float32 ``(140,)``, resampled and z-normalized as in training.
        resampled_from: the original length when it was not 140, else None.
    """

    patient: str
    mode: str
    seq: int
    onset_sample: int | None
    samples: NDArray[np.float32]
    resampled_from: int | None
    sent_ms: int
    received_ms: int


def to_model_input(samples: Sequence[float] | NDArray[np.floating]) -> NDArray[np.float32]:
    """Resample one beat to 140 samples (the segmenter's cubic spline) and z-normalize it."""
    values = np.asarray(samples, dtype=np.float64)
    if len(values) != BEAT_LENGTH:
        values = resample_beat(values, BEAT_LENGTH)
    return znormalize(values)


def pending_from_messages(messages: Sequence[BeatMessage], received_ms: int
                          ) -> list[PendingBeat]:
    """Beat mode: decoded ``ecg.beats`` messages as beats for the model.

    Beats of 140 samples are normalized together in one vectorized call; others are
    resampled one by one and carry their original length in ``resampled_from``.
    """
    regular = [i for i, m in enumerate(messages) if len(m.samples) == BEAT_LENGTH]
    ready: dict[int, NDArray[np.float32]] = {}
    if regular:
        # float32 first, as the model's data are: a float32 value sent as its shortest
        # decimal parses to a float64 a hair away from it, and normalizing that instead
        # moved scores by up to 3e-4; this way stream and offline inputs are bit-identical.
        block = znormalize(np.array([messages[i].samples for i in regular], dtype=np.float32))
        ready = dict(zip(regular, block, strict=True))
    beats = []
    for i, message in enumerate(messages):
        samples = ready.get(i)
        length = len(message.samples)
        if samples is None:
            samples = to_model_input(message.samples)
        beats.append(PendingBeat(message.patient, "beat", message.seq, None, samples,
                                 None if length == BEAT_LENGTH else length, message.sent_ms,
                                 received_ms))
    return beats


class ThresholdGate:
    """Threshold policy + Redis statistics, with degraded mode when Redis fails.

    While Redis is unreachable, beats are judged against the static threshold (records say
    ``degraded``) and the statistics updates are merged in memory; the first successful
    round trip afterwards merges them into Redis, so no update is lost (at worst counted late).
    """

    def __init__(self, policy: ThresholdPolicy, store: object | None) -> None:
        self.policy, self.store = policy, store
        self.degraded = store is None and policy.mode == "adaptive"
        self._pending: dict[str, RunningStats] = {}

    async def decide(self, patients: list[str], scores: NDArray[np.float32]
                     ) -> tuple[NDArray[np.float64], list[ThresholdSource], NDArray[np.bool_]]:
        """Thresholds, their sources and decisions for one batch; stats merged once."""
        stats = await self._fetch(patients)
        thresholds, sources = self.policy.thresholds(patients, stats)
        decisions = self.policy.decide(scores, thresholds)
        if self.policy.mode == "adaptive":
            await self._merge(self.policy.batch_updates(patients, scores, decisions))
        return thresholds, sources, decisions

    async def _fetch(self, patients: list[str]) -> dict[str, RunningStats]:
        if self.store is None or self.policy.mode == "static":
            return {}
        try:
            stats = await self.store.fetch(patients)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - any Redis/OS error means degraded
            self._set_degraded(True, exc)
            return {}
        return stats

    async def _merge(self, updates: dict[str, RunningStats]) -> None:
        for key, stats in updates.items():
            self._pending[key] = self._pending[key].merge(stats) if key in self._pending else stats
        if self.store is None or not self._pending:
            return
        try:
            await self.store.merge(self._pending)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            self._set_degraded(True, exc)
            return
        self._pending = {}
        self._set_degraded(False)

    def _set_degraded(self, value: bool, exc: Exception | None = None) -> None:
        if value and not self.degraded:
            log.warning("degraded: Redis unavailable (%r); static threshold, statistics "
                        "updates kept in memory", exc)
        elif not value and self.degraded:
            log.warning("degraded mode over: Redis is back, statistics merged, adaptive "
                        "thresholds resumed")
        self.degraded = value


class BatchScorer:
    """Scores a micro-batch of :class:`PendingBeat` into :class:`ScoreRecord` objects."""

    def __init__(self, score: Scorer, gate: ThresholdGate, model_version: str,
                 worker: str = "", run: Callable[..., Awaitable[object]] | None = None) -> None:
        self._score, self.gate = score, gate
        self.model_version, self.worker = model_version, worker
        self._run = run or asyncio.to_thread
        self.last_inference_s: float | None = None  # seconds of the latest model call

    async def score(self, beats: list[PendingBeat]) -> list[ScoreRecord]:
        """One model call (in a thread, off the event loop) and one threshold round trip."""
        if not beats:
            return []
        batch = np.stack([beat.samples for beat in beats])
        started = time.perf_counter()
        scores = np.asarray(await self._run(self._score, batch), dtype=np.float32)
        self.last_inference_s = time.perf_counter() - started
        patients = [beat.patient for beat in beats]
        thresholds, sources, decisions = await self.gate.decide(patients, scores)
        published = now_ms()
        return [ScoreRecord(patient=b.patient, mode=b.mode, seq=b.seq, onset_sample=b.onset_sample,
                            score=float(s), threshold=float(t), threshold_source=src,
                            anomalous=bool(d), model_version=self.model_version,
                            resampled_from=b.resampled_from, degraded=self.gate.degraded,
                            sent_ms=b.sent_ms, received_ms=b.received_ms, published_ms=published,
                            worker=self.worker)
                for b, s, t, src, d in zip(beats, scores, thresholds, sources, decisions,
                                           strict=True)]
