"""One continuous-mode segmenter per patient, fed decoded frames by the worker.

The segmenter is ``ECG_SEGMENTER``: :class:`~stream.segmentation.qrs_segmenter.QrsSegmenter`
(real ECG, the default) or :class:`~stream.segmentation.segmenter.PatientSegmenter`
(``templates``: stitched ECG5000 replays).

Memory is bounded in bytes and in time: the pool estimates each patient's state (sample
buffer, held frames, tracker) and, past ``ECG_SEGMENTER_MAX_BYTES``, evicts the patients fed
least recently; a patient without frames for ``ECG_SEGMENTER_IDLE_EXPIRY_S`` is dropped.
Eviction closes the patient's last beat (``finish()``) and hands it to be scored, and is
counted (``evicted`` / ``expired`` in :attr:`SegmenterPool.events`). The per-rate beat-shape
stacks are shared (:class:`stream.segmentation.plans.RatePlans`, at most
``ECG_SEGMENTER_RATES``);
:meth:`SegmenterPool.prepare` builds a new rate's stacks in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from stream.beats import PendingBeat
from stream.segmentation.config import SegmenterConfig
from stream.segmentation.fiducial import load_fiducial
from stream.segmentation.issues import Issue, Reason
from stream.segmentation.plans import RatePlans
from stream.segmentation.qrs_segmenter import QrsSegmenter
from stream.segmentation.rhythm import RhythmTracker
from stream.segmentation.segmenter import Beat, PatientSegmenter
from stream.segmentation.watch import BeatMark, Observation, SignalWatch, WatchRules
from stream.settings import Settings
from stream.wire.schemas import FrameMessage, SignalEvent

log = logging.getLogger(__name__)
PATIENT_OVERHEAD = 4_500
"""Bytes of one patient's objects beyond what :attr:`PatientSegmenter.nbytes` counts. With it
the estimate is within about 15 % of tracemalloc's count (7.0 KB real, 8.2 KB estimated after
one 128-sample frame; 21.4 / 22.5 KB after ten), on the high side."""
REFUSED = frozenset({Reason.DUPLICATE, Reason.LATE, Reason.FAR_FUTURE, Reason.START_MISMATCH,
                     Reason.BAD_FS, Reason.BAD_SAMPLES})
"""Issues that mean the frame itself was not used: it goes to the dead-letter topic.
The others (reordered, gap, resync, fs_changed, buffer_overflow, partial_beat) describe the
signal, not a bad record; they are counted in :attr:`SegmenterPool.events`."""
EVICTED, EXPIRED = "evicted", "expired"
"""Pool events: a patient dropped for the byte budget or a rate eviction / for idling."""
FINISH_FAILED = "finish_failed"
"""Pool event: closing a patient's last beat raised (logged; that tail is not scored)."""


FRAMES_KEPT = 256
"""Per patient, the (end sample, send time) of its latest frames: a beat's latency is
measured from the send time of the frame holding its last sample."""


REORDER_SLACK = 64
"""Frames ended before a beat's last sample that :meth:`_Patient.sent_for` looks past (at
least the reorder window)."""


@dataclass
class _Patient:
    segmenter: PatientSegmenter | QrsSegmenter
    count: int = 0
    sent_ms: int = 0
    flushed: bool = False
    received_ms: int = 0  # arrival of its newest frame: judges expiry
    nbytes: int = 0
    partition: int = -1
    frames: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=FRAMES_KEPT))
    rhythm: RhythmTracker = field(default_factory=RhythmTracker)
    known_to_model: bool = False  # its newest frame declared it (schema 2)
    watch: SignalWatch = field(default_factory=SignalWatch)
    lost: tuple[int, int] | None = None  # signal lost: (last sample, its frame's send time)

    def sent_for(self, last_sample: int) -> int:
        """Send time of the frame that holds ``last_sample`` (the newest frame's if unknown).

        The frame with the smallest end past ``last_sample``, searched from the newest back
        until :data:`REORDER_SLACK` frames ended before it (frames may come reordered).
        """
        found, best, before = self.sent_ms, None, 0
        for end, sent in reversed(self.frames):
            if end > last_sample:
                if best is None or end < best:
                    found, best = sent, end
            else:
                before += 1
                if before > REORDER_SLACK:
                    break
        return found


class SegmenterPool:
    """Per-patient segmenters, bounded in bytes (least recently fed evicted) and in time.

    A patient's frames reach one worker (partitions are keyed by patient). Continuous-mode
    beat identity is (patient, onset_sample); ``seq`` counts the beats this worker cut. After
    an eviction, new patients' ``seq`` start above every ``seq`` the pool has given, so a
    patient that comes back never repeats an earlier ``seq``.
    """

    def __init__(self, settings: Settings) -> None:
        self.config = SegmenterConfig.from_settings(settings)
        self.kind = settings.segmenter
        self.fiducial = load_fiducial()
        self.plans = RatePlans(self.fiducial, settings.segmenter_rates)
        self.idle_ms = settings.segment_idle_flush_ms
        self.expiry_ms = round(settings.segmenter_idle_expiry_s * 1000)
        self.max_bytes = settings.segmenter_max_bytes
        self.nbytes = 0  # estimated bytes of all patients' state
        # Newest producer send time seen per input partition: each partition's event time.
        # Partitions are consumed unevenly under a backlog, so a patient is judged against
        # its own partition only.
        self._latest_sent: dict[int, int] = {}
        self._last_received = 0  # when this worker last received any frame
        self._by_patient: OrderedDict[str, _Patient] = OrderedDict()  # least recently fed first
        self._evicted: list[PendingBeat] = []  # closed by eviction, scored at the next flush
        self._seq_floor = 0
        self._building: dict[tuple[int, int], asyncio.Future[None]] = {}
        self.events: dict[str, int] = {}
        self.samples_lost = 0
        self.rules = WatchRules(settings.alarm_asystole_s, settings.lead_off_s)
        self.lost_ms = round(settings.signal_lost_s * 1000)
        self._signal_events: list[SignalEvent] = []

    def __len__(self) -> int:
        """Patients held."""
        return len(self._by_patient)

    def __contains__(self, patient: object) -> bool:
        """Whether ``patient`` is held."""
        return patient in self._by_patient

    def patients(self) -> list[str]:
        """The patients held, least recently fed first."""
        return list(self._by_patient)

    def is_flushed(self, patient: str) -> bool:
        """Whether ``patient``'s last beat was closed (idle or evicted) and no frame came since."""
        return self._by_patient[patient].flushed

    def patient_nbytes(self, patient: str) -> int:
        """Estimated bytes of ``patient``'s state (its share of :attr:`nbytes`)."""
        return self._by_patient[patient].nbytes

    def segmenter(self, patient: str) -> PatientSegmenter | QrsSegmenter:
        """The segmenter held for ``patient``."""
        return self._by_patient[patient].segmenter

    def take_signal_events(self) -> list[SignalEvent]:
        """The signal events (pause, lead off, signal lost) since the last call, in order."""
        events, self._signal_events = self._signal_events, []
        return events

    def supported(self, fs: float) -> bool:
        """Whether frames at ``fs`` Hz are segmented (others are refused, ``bad_fs``)."""
        cfg = self.config
        return math.isfinite(fs) and cfg.min_sampling_rate <= fs <= cfg.max_sampling_rate

    async def prepare(self, fs: float) -> None:
        """Make sure the beat-shape stacks of ``fs`` exist; a new rate's are built in a thread.

        Returns at once for a prepared or refused rate. Concurrent callers of one rate share
        one build. Awaited by the worker before :meth:`push`, so that a frame at a new rate
        never blocks the event loop (up to about 0.2 s of CPU and 82 MiB per rate).
        """
        if self.kind != "templates" or not self.supported(fs) or self.plans.ready(fs):
            return
        key = self.plans.key(fs)
        task = self._building.get(key)
        if task is None:
            task = self._building[key] = asyncio.ensure_future(self._build(fs, key))
        await asyncio.shield(task)

    async def _build(self, fs: float, key: tuple[int, int]) -> None:
        try:
            fit = await asyncio.to_thread(self.plans.build, fs)
        finally:
            del self._building[key]
        self.plans.add(fs, fit)
        log.info("beat shapes for %g Hz prepared (%.1f MiB)", fs, self.plans.fit_nbytes(fs) / 2**20)
        self._release_rates(self._last_received)

    def push(self, frame: FrameMessage, received_ms: int, partition: int = -1
             ) -> tuple[list[PendingBeat], list[tuple[str, str]]]:
        """Feed one frame; return the beats it completed and (reason, detail) to dead-letter.

        ``partition``: the input partition the frame came from (its event time is judged
        per partition by :meth:`flush_idle`).
        """
        state = self._patient(frame.patient)
        state.frames.append((frame.start_sample + len(frame.samples), frame.sent_ms))
        samples = np.asarray(frame.samples, dtype=np.float64)
        segmenter = state.segmenter
        result = segmenter.push(frame.frame_seq, frame.start_sample, frame.fs, samples)
        if state.lost is not None:
            (last, sent), state.lost = state.lost, None
            self._signal(frame.patient, state, "signal_lost", "end", last, frame.start_sample,
                         float(frame.sent_ms - sent), frame.sent_ms, "frames again")
        state.sent_ms, state.flushed, state.received_ms = frame.sent_ms, False, received_ms
        if self.supported(frame.fs):
            marks = [BeatMark(b.onset_sample, b.onset_sample + b.length, b.amplitude)
                     for b in result.beats]
            for seen in state.watch.observe(
                    frame.start_sample, samples, frame.fs, marks,
                    segmenter.last_boundary, segmenter.detected_end,
                    segmenter.stream_start):
                self._observed(frame.patient, state, seen)
        state.partition, state.known_to_model = partition, frame.known_to_model
        self._latest_sent[partition] = max(self._latest_sent.get(partition, 0), frame.sent_ms)
        self._last_received = max(self._last_received, received_ms)
        beats = self._pending(frame.patient, state, result.beats, received_ms)
        self._account(state)
        self._release_rates(received_ms)
        self._enforce_budget(received_ms)
        return beats, self._triage(frame, result.issues)

    def flush_idle(self, now: int) -> list[PendingBeat]:
        """Close the last beat of every patient idle for ``idle_ms`` (once per idle spell).

        A monitor that stops sending (end of a replay, a disconnect) would otherwise keep its
        last beat open forever, since a beat ends only where the next one starts. Idle is
        judged in event time (the patient's newest frame is ``idle_ms`` older, by producer
        send time, than the newest frame of any patient) or when no frame at all arrived for
        ``idle_ms``; so a worker working through a backlog does not cut beats short. Patients
        without a frame for ``expiry_ms`` (arrival time) are dropped; beats closed by
        evictions since the last call are returned too.
        """
        self._expire(now)
        beats, self._evicted = self._evicted, []
        stream_quiet = now - self._last_received >= self.idle_ms
        for patient, state in self._by_patient.items():
            newest = self._latest_sent.get(state.partition, state.sent_ms)
            quiet = max(newest - state.sent_ms, now - state.received_ms)
            if state.lost is None and quiet >= self.lost_ms and state.frames:
                last = state.frames[-1][0]
                state.lost = (last, state.sent_ms)
                self._signal(patient, state, "signal_lost", "start", last, last, float(quiet),
                             state.sent_ms, "no frame")
            behind = newest - state.sent_ms >= self.idle_ms
            if state.flushed or not (behind or stream_quiet):
                continue
            beats += self._close(patient, state, now)
            self._account(state)
        return beats

    def _patient(self, patient: str) -> _Patient:
        entry = self._by_patient.get(patient)
        if entry is None:
            segmenter: PatientSegmenter | QrsSegmenter = (
                QrsSegmenter(self.config) if self.kind == "qrs"
                else PatientSegmenter(self.config, self.fiducial, self.plans.plan))
            entry = _Patient(segmenter, count=self._seq_floor, watch=SignalWatch(self.rules))
            self._by_patient[patient] = entry
        self._by_patient.move_to_end(patient)
        return entry

    def _account(self, state: _Patient) -> None:
        size = PATIENT_OVERHEAD + state.segmenter.nbytes
        self.nbytes += size - state.nbytes
        state.nbytes = size

    def _close(self, patient: str, state: _Patient, now: int) -> list[PendingBeat]:
        """``finish()`` the patient's segmenter: its last beat, issues counted."""
        state.flushed = True
        try:
            result = state.segmenter.finish()
        except Exception as exc:  # a segmenter defect must not stop the idle flush of all
            log.error("patient %s: closing its last beat failed: %r", patient, exc)
            self._count(FINISH_FAILED)
            return []
        for issue in result.issues:
            self._count(issue.reason.value)
            self.samples_lost += issue.samples_lost
        return self._pending(patient, state, result.beats, now)

    def _evict(self, patient: str, reason: str, now: int) -> None:
        """Drop a patient, its last beat closed and kept for the next :meth:`flush_idle`."""
        state = self._by_patient.pop(patient)
        if not state.flushed:
            self._evicted += self._close(patient, state, now)
        self.nbytes -= state.nbytes
        self._seq_floor = max(self._seq_floor, state.count)
        self._count(reason)
        log.debug("patient %s %s (%d patients, %d bytes)", patient, reason,
                  len(self._by_patient), self.nbytes)

    def _enforce_budget(self, now: int) -> None:
        """Evict the least recently fed patients while the state exceeds ``max_bytes``."""
        while self.nbytes > self.max_bytes and len(self._by_patient) > 1:
            self._evict(next(iter(self._by_patient)), EVICTED, now)

    def _expire(self, now: int) -> None:
        """Drop the patients whose newest frame arrived ``expiry_ms`` ago or more."""
        while self._by_patient:
            patient, state = next(iter(self._by_patient.items()))
            if now - state.received_ms < self.expiry_ms:
                return
            self._evict(patient, EXPIRED, now)

    def _release_rates(self, now: int) -> None:
        """Evict the patients still holding beat shapes the rate cache let go."""
        evicted = set(self.plans.take_evicted())
        if not evicted:
            return
        for patient in [p for p, s in self._by_patient.items()
                        if s.segmenter.plan is not None and s.segmenter.plan.key in evicted]:
            self._evict(patient, EVICTED, now)

    def _observed(self, patient: str, state: _Patient, seen: Observation) -> None:
        self._signal(patient, state, seen.kind, seen.phase, seen.since_sample, seen.at_sample,
                     1000 * seen.duration_s, state.sent_ms, seen.detail)

    def _signal(self, patient: str, state: _Patient, kind: str, phase: str, since: int,
                at: int, duration_ms: float, sent_ms: int, detail: str) -> None:
        """Queue one signal event (its publish time and worker are set when published)."""
        category = "clinical" if kind == "pause" else "technical"
        self._signal_events.append(SignalEvent.model_validate({
            "schema": 1, "patient": patient, "kind": kind, "category": category,
            "phase": phase, "since_sample": since, "at_sample": at,
            "duration_ms": round(duration_ms, 1), "fs": state.segmenter.fs,
            "detail": detail, "sent_ms": sent_ms, "published_ms": 0}))
        self._count(f"{kind}_{phase}")
        log.info("patient %s: %s %s at sample %d (%.1f s)%s", patient, kind, phase, at,
                 duration_ms / 1000, f": {detail}" if detail else "")

    def _count(self, reason: str) -> None:
        self.events[reason] = self.events.get(reason, 0) + 1

    @staticmethod
    def _pending(patient: str, state: _Patient, cut: list[Beat], received_ms: int
                 ) -> list[PendingBeat]:
        beats = []
        fs = state.segmenter.fs or 0.0
        for beat in cut:
            sent = state.sent_for(beat.onset_sample + beat.length - 1)
            rhythm = state.rhythm.observe(beat.onset_sample, beat.length)
            beats.append(PendingBeat(patient, "continuous", state.count, beat.onset_sample,
                                     beat.samples, beat.length, sent, received_ms,
                                     fiducial_sample=beat.fiducial_sample, fs=fs,
                                     rr_before=rhythm.rr_before, rr_after=rhythm.rr_after,
                                     premature=rhythm.premature, amplitude=beat.amplitude,
                                     known_to_model=state.known_to_model,
                                     cut_sent_ms=state.sent_ms))
            state.count += 1
        return beats

    def _triage(self, frame: FrameMessage, issues: list[Issue]) -> list[tuple[str, str]]:
        refused = []
        for issue in issues:
            self._count(issue.reason.value)
            self.samples_lost += issue.samples_lost
            if issue.reason in REFUSED and issue.frame_seq == frame.frame_seq:
                refused.append((f"frame_{issue.reason.value}", issue.detail))
            else:
                log.debug("patient %s: %s (%s)", frame.patient, issue.reason.value, issue.detail)
        return refused
