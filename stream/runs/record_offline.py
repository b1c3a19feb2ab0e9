"""Evaluate a recording offline: the worker's segmenter and scorer in-process, no Kafka.

The recording is prepared as ``ecg-stream replay --record`` prepares it, sent through the
project's :class:`~producers.gateway.SignalSender` into memory, decoded as the worker decodes
``ecg.signal`` records, cut by the worker's :class:`~stream.segmentation.pool.SegmenterPool`
and scored in micro-batches with the checkpoint and the threshold policy (per-patient
statistics kept in memory instead of Redis). The report has the keys of a record replay's
``evaluate-stream`` report (without latency: nothing is timed here).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from producers.gateway import SignalSender
from producers.manifest import AnnotationRecord, ExtentRecord
from producers.record_replay import RecordReplayOptions, prepare, swap_beats
from producers.records import Recording
from stream.alerts.monitor import CLINICAL_KINDS, TECHNICAL_KINDS, MonitorRules, MonitorTracker
from stream.alerts.rule import AlertTracker
from stream.beats import PendingBeat
from stream.runs.ec57 import MATCH_TOLERANCE_S
from stream.runs.record_evaluation import evaluate_record_run
from stream.segmentation.pool import SegmenterPool
from stream.settings import Settings
from stream.thresholds.normal import NORMAL_VERSION
from stream.thresholds.policy import ThresholdPolicy
from stream.wire.decode import RawInput, dead_letter, decode_frame
from stream.wire.schemas import DeadLetter, ScoreRecord, SignalEvent
from stream.worker.adapting import AdaptationGate
from stream.worker.memory import MemoryNormalStore, MemoryStatsStore
from stream.worker.scoring import BatchScorer, ThresholdGate

PATIENT = "record"


class _Memory:
    """A producer that keeps the values it is given (the frames, in order)."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def send(self, topic: str, *, key: bytes, value: bytes) -> object:  # noqa: ARG002
        self.values.append(value)
        return None

    def flush(self, timeout: float | None = None) -> object:  # noqa: ARG002
        return None


@dataclass
class Cut:
    """What the worker's segmenter made of a prepared recording (one patient)."""

    beats: list[PendingBeat]
    dead: list[DeadLetter]
    events: list[SignalEvent]
    pool: SegmenterPool
    samples_skipped: int
    cpu_s: float


def cut_beats(settings: Settings, record: Recording, opts: RecordReplayOptions) -> Cut:
    """Send a prepared recording in frames through the worker's decoder and segmenter pool.

    The frames are those ``ecg-stream replay --record`` sends (``opts.frame_s`` long); every
    beat the pool cuts, every frame it refuses (as a dead letter) and every signal event.
    """
    memory = _Memory()
    sender = SignalSender(memory, settings.topic_signal, PATIENT, record.fs,
                          max(1, round(opts.frame_s * record.fs)), opts.encoding)
    sender.send(record.samples)
    sender.close()
    pool = SegmenterPool(settings)
    dead: list[DeadLetter] = []
    pending: list[PendingBeat] = []
    events: list[SignalEvent] = []
    cpu = time.process_time()
    for offset, value in enumerate(memory.values):
        raw = RawInput(settings.topic_signal, 0, offset, PATIENT.encode(), value, 0)
        frame = decode_frame(raw, settings.max_payload_bytes)
        if isinstance(frame, DeadLetter):
            dead.append(frame)
            continue
        beats, refused = pool.push(frame, 0, 0)
        pending += beats
        events += pool.take_signal_events()
        dead += [dead_letter(raw, reason, detail) for reason, detail in refused]
    pending += pool.flush_idle(2**62)
    return Cut(pending, dead, events, pool, sender.samples_skipped, time.process_time() - cpu)


def evaluate_record_offline(settings: Settings, recording: Recording,
                            opts: RecordReplayOptions | None = None,
                            learning_s: float = 300.0, known_to_model: bool = False,
                            swap: tuple[Recording, int] | None = None) -> dict[str, Any]:
    """Segment and score ``recording`` in-process; the EC57 report and costs.

    ``learning_s`` is the EC57 learning period of the report; the patient's own learning
    period is ``settings.learning_s`` (unless ``known_to_model``: the calibrated model
    threshold judges it). ``swap``: another lead of the recording and a number of normal
    beats after the report's learning period to replace by it (:func:`swap_beats`); the
    report gets how many of them were flagged for morphology.
    """
    from models.detector import load_detector  # local: torch loads only when scoring

    opts = opts or RecordReplayOptions()
    record = prepare(recording, opts)
    swapped: list[int] = []
    if swap is not None:
        record, swapped = swap_beats(record, prepare(swap[0], opts), swap[1], learning_s)
    cut = cut_beats(settings, record, opts)
    pending, dead, events, pool = cut.beats, cut.dead, cut.events, cut.pool
    segment_cpu = cut.cpu_s
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads)
    policy = ThresholdPolicy.from_settings(settings, detector.threshold)
    cpu = time.process_time()
    adapt = None if known_to_model or settings.learning_s <= 0 else settings.learning_s
    scores = _score(pending, detector, policy, settings.batch_size, adapt)
    score_cpu = time.process_time() - cpu
    annotations = [AnnotationRecord(PATIENT, a.sample, a.symbol) for a in record.annotations]
    extents = {PATIENT: ExtentRecord(PATIENT, record.samples.size, record.fs)}
    report = evaluate_record_run(annotations, extents, scores, len(dead), learning_s)
    report.pop("latency_ms")
    report["judged_by"] = "model" if adapt is None else f"patient, learning {adapt:g} s"
    report["alarms_after_learning"] = _alarms(settings, scores, events, learning_s)
    if swap is not None:
        report["swapped_beats"] = swapped_flagged(swapped, scores, record.fs)
    per_beat = 1000 / max(len(pending), 1)
    report.update(
        source="record-offline", record=record.source, lead=record.lead, fs=record.fs,
        units=record.units, duration_s=round(record.duration_s, 3),
        segmenter=settings.segmenter, threshold_mode=settings.threshold_mode,
        segmenter_events=dict(sorted(pool.events.items())), samples_lost=pool.samples_lost,
        samples_skipped=cut.samples_skipped,
        cpu_ms_per_beat={"segmentation": round(segment_cpu * per_beat, 4),
                         "scoring": round(score_cpu * per_beat, 4)})
    return report


def _score(pending: list[PendingBeat], detector: Any, policy: ThresholdPolicy, batch: int,
           learning_s: float | None) -> list[ScoreRecord]:
    """Score in micro-batches of ``batch`` beats with the worker's :class:`BatchScorer`.

    Its stores are in memory (:mod:`stream.worker.memory`). ``learning_s`` None: every beat
    judged on the model's calibrated threshold (a patient the model knows); otherwise each
    patient learns its normal first, as in the worker.
    """
    adaptation = (AdaptationGate(MemoryNormalStore(), learning_s, NORMAL_VERSION)
                  if learning_s is not None else None)
    scorer = BatchScorer(detector.score, ThresholdGate(policy, MemoryStatsStore()),
                         detector.version, "offline", adaptation=adaptation)

    async def run() -> list[ScoreRecord]:
        records: list[ScoreRecord] = []
        for lo in range(0, len(pending), batch):
            scored = await scorer.score(pending[lo : lo + batch])
            # Event time is signal time here: the end of the beat (alarm cool-downs use it).
            for beat, r in zip(scored.beats, scored.records, strict=True):
                end = round(1000 * ((beat.onset_sample or 0) + (beat.resampled_from or 0))
                            / beat.fs) if beat.fs else 0
                records.append(r.model_copy(update={"sent_ms": end, "received_ms": end,
                                                    "published_ms": end}))
        return records

    return asyncio.run(run())


def _alarms(settings: Settings, scores: list[ScoreRecord], events: list[SignalEvent],
            learning_s: float) -> dict[str, int]:
    """Alarms the records and signal events raise after the EC57 learning period, by kind.

    Monitor and technical alarms (:mod:`stream.alerts.monitor`) and runs of anomalous beats
    (the alert rule, m of n), event time being signal time (an event's: where it was decided).
    """
    monitor = MonitorTracker(MonitorRules.from_settings(settings))
    runs = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s)
    out: dict[str, int] = dict.fromkeys((*CLINICAL_KINDS, *TECHNICAL_KINDS, "anomaly_run"), 0)
    timed: list[tuple[int, ScoreRecord | SignalEvent]] = [
        (r.onset_sample or 0, r) for r in scores]
    for e in events:
        at = e.at_sample or 0
        timed.append((at, e.model_copy(update={"published_ms": round(1000 * at / (e.fs or 1))})))
    for _, item in sorted(timed, key=lambda pair: pair[0]):
        after = item.published_ms >= 1000 * learning_s
        if isinstance(item, SignalEvent):
            raised = monitor.observe_event(item)
        else:
            raised = monitor.observe(item)
            if item.anomalous and runs.observe(item) is not None:
                out["anomaly_run"] += int(after)
        for alarm in raised:
            out[alarm.kind] += int(after)
    return out


def swapped_flagged(peaks: list[int], scores: list[ScoreRecord], fs: float) -> dict[str, int]:
    """How many swapped beats were detected, and flagged anomalous for their morphology."""
    tolerance = round(MATCH_TOLERANCE_S * fs)
    found = sorted((s.fiducial_sample, s) for s in scores if s.fiducial_sample is not None)
    fiducials = np.array([f for f, _ in found])
    detected = morphology = 0
    for peak in peaks:
        if not fiducials.size:
            break
        j = int(np.argmin(np.abs(fiducials - peak)))
        if abs(int(fiducials[j]) - peak) <= tolerance:
            detected += 1
            morphology += int(found[j][1].anomaly_reason in ("morphology", "both"))
    return {"beats": len(peaks), "detected": detected, "flagged_morphology": morphology}
