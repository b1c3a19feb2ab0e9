"""What a worker does with one micro-batch of raw records: decode, segment, score, publish.

Kept apart from Faust: :class:`WorkerRuntime` takes raw records and a ``publish`` coroutine,
so the same code runs under the Faust agents and in tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from stream.beats import PendingBeat, intake_beats
from stream.settings import Settings
from stream.thresholds.policy import RunningStats
from stream.wire.decode import RawInput, dead_letter, decode_frame
from stream.wire.schemas import DeadLetter, FrameMessage, ScoreRecord, SignalEvent, now_ms
from stream.worker.scoring import BatchScorer, Rejected

if TYPE_CHECKING:
    from stream.observe.livefeed import LiveFeed
    from stream.observe.metrics import WorkerMetrics

log = logging.getLogger(__name__)
M = TypeVar("M")


class Segmenters(Protocol):
    """The per-patient segmenters (``SegmenterPool``) as :class:`WorkerRuntime` calls them.

    Called by WorkerRuntime in continuous mode: :meth:`prepare` then :meth:`push` for each
    frame, :meth:`flush_idle` on the idle-flush timer.
    """

    async def prepare(self, fs: float) -> None:
        """Make ready for frames at ``fs`` Hz (off the event loop for a new rate)."""

    def push(self, frame: FrameMessage, received_ms: int, partition: int = -1
             ) -> tuple[list[PendingBeat], list[tuple[str, str]]]:
        """Feed one frame from input ``partition``: the beats it completed, dead letters."""

    def flush_idle(self, now: int) -> list[PendingBeat]:
        """Close the last beat of patients without frames for a while."""

    def take_signal_events(self) -> list[SignalEvent]:
        """Signal events (pause, lead off, signal lost) found since the last call."""


@dataclass
class BatchResult:
    """Outputs of one micro-batch.

    Score records (every beat), dead letters, the statistics updates Redis did not take
    (published to the statistics journal), and signal events (continuous mode).
    """

    scores: list[ScoreRecord] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    journal: dict[str, RunningStats] = field(default_factory=dict)
    signal_events: list[SignalEvent] = field(default_factory=list)

    @property
    def anomalies(self) -> list[ScoreRecord]:
        """The score records judged anomalous."""
        return [record for record in self.scores if record.anomalous]


Publish = Callable[[BatchResult], Awaitable[None]]


@dataclass
class Counters:
    """What this worker has seen, for logs, metrics and tests."""

    records: int = 0
    beats_scored: int = 0
    anomalies: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    batches: int = 0


class WorkerRuntime:
    """Decodes, segments, scores and publishes micro-batches of raw input records."""

    def __init__(self, settings: Settings, scorer: BatchScorer, publish: Publish,
                 segmenters: Segmenters | None = None, worker: str = "",
                 metrics: WorkerMetrics | None = None, feed: LiveFeed | None = None) -> None:
        self.settings, self.scorer, self.publish = settings, scorer, publish
        self.segmenters = segmenters
        self.worker = worker
        self.metrics = metrics
        self.feed = feed  # the live dashboard's view, when the dashboard is served
        self.counters = Counters()
        self._lock = asyncio.Lock()  # agents and the idle-flush timer take turns

    def _decode(self, records: Sequence[RawInput],
                decode: Callable[[RawInput, int], M | DeadLetter],
                result: BatchResult) -> list[tuple[RawInput, M]]:
        """Decoded messages with their records; the rest become dead letters in ``result``."""
        good: list[tuple[RawInput, M]] = []
        for raw in records:
            decoded = decode(raw, self.settings.max_payload_bytes)
            if isinstance(decoded, DeadLetter):
                result.dead.append(decoded.model_copy(update={"worker": self.worker}))
            else:
                good.append((raw, decoded))
        return good

    async def handle_beats(self, records: Sequence[RawInput]) -> BatchResult:
        """Beat mode: one record per beat (:func:`stream.beats.intake_beats`)."""
        intake = intake_beats(records, self.settings.max_payload_bytes, self.worker)
        received = records[0].received_ms if records else now_ms()
        pending = [PendingBeat(patient, "beat", seq, None, row, resampled, sent, received, raw)
                   for patient, seq, row, resampled, sent, raw in zip(
                       intake.patients, intake.seqs, intake.rows, intake.resampled_from,
                       intake.sent_ms, intake.sources, strict=True)]
        return await self._finish(records, pending, BatchResult(dead=intake.dead), "beat")

    async def handle_frames(self, records: Sequence[RawInput]) -> BatchResult:
        """Continuous mode: frames go through each patient's segmenter; its beats are scored."""
        result, pending = BatchResult(), list[PendingBeat]()
        for raw, frame in self._decode(records, decode_frame, result):
            self.counters.frames += 1
            try:
                if self.segmenters is None:
                    msg = "no segmenters: continuous mode needs them"
                    raise AttributeError(msg)
                await self.segmenters.prepare(frame.fs)  # off-loop
                beats, issues = self.segmenters.push(frame, raw.received_ms, raw.partition)
            except Exception as exc:  # noqa: BLE001 - a frame must never stop its partition
                log.exception("frame %s[%d]@%d could not be segmented", raw.topic, raw.partition,
                              raw.offset)
                result.dead.append(dead_letter(raw, "unprocessable", f"segmenter: {exc!r}"[:300],
                                               self.worker))
                continue
            pending.extend(dataclasses.replace(beat, source=raw) for beat in beats)
            result.dead.extend(dead_letter(raw, reason, detail, self.worker)
                               for reason, detail in issues)
        if self.segmenters is not None:
            result.signal_events = self.segmenters.take_signal_events()
        return await self._finish(records, pending, result, "continuous")

    async def flush_idle(self) -> BatchResult:
        """Continuous mode: close and score the last beat of patients that went quiet.

        Also publishes the signal events found meanwhile (a signal lost is found here).
        """
        if self.segmenters is None:
            return BatchResult()
        pending = self.segmenters.flush_idle(now_ms())
        events = self.segmenters.take_signal_events()
        if not pending and not events:
            return BatchResult()
        return await self._finish([], pending, BatchResult(signal_events=events), "continuous")

    def _reject(self, rejected: list[Rejected], result: BatchResult) -> None:
        """Dead letters for beats that cannot be scored.

        A beat cut from frames that went idle has no record of its own: its letter names the
        signal topic with partition and offset -1.
        """
        for source, reason, detail in rejected:
            raw = source or RawInput(self.settings.topic_signal, -1, -1, None, None, now_ms())
            result.dead.append(dead_letter(raw, reason, detail, self.worker))

    async def _finish(self, records: Sequence[RawInput], pending: list[PendingBeat],
                      result: BatchResult, mode: str) -> BatchResult:
        async with self._lock:
            scored = await self.scorer.score(pending)
            result.scores, result.journal = scored.records, scored.unmerged
            self._reject(scored.rejected, result)
            published = now_ms()
            result.signal_events = [e.model_copy(update={"worker": self.worker,
                                                         "published_ms": published})
                                    for e in result.signal_events]
            await self.publish(result)
        self._observe(records, scored.beats, result, mode)
        return result

    def _observe(self, records: Sequence[RawInput], beats: list[PendingBeat],
                 result: BatchResult, mode: str) -> None:
        """Metrics, live feed and counters of a published batch.

        Never raises: the batch's outputs are out, so a failure here must not make the batch
        be redelivered.
        """
        try:
            if self.metrics is not None:
                self.metrics.observe_batch(mode, len(records), result.scores, result.dead,
                                           self.scorer.last_inference_s, self.scorer.gate.degraded)
            if self.feed is not None:
                self.feed.observe(beats, result.scores)
        except Exception:  # noqa: BLE001
            log.exception("observing a published batch failed; outputs are unaffected")
        counters = self.counters
        counters.batches += 1
        counters.records += len(records)
        counters.beats_scored += len(result.scores)
        counters.anomalies += len(result.anomalies)
        for letter in result.dead:
            counters.dead_letters[letter.reason] = counters.dead_letters.get(letter.reason, 0) + 1
