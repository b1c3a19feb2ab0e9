"""One continuous-mode segmenter per patient, fed decoded frames by the worker."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from stream.fiducial import load_fiducial
from stream.schemas import FrameMessage
from stream.scoring import PendingBeat
from stream.segment import Issue, PatientSegmenter, Reason, SegmenterConfig
from stream.settings import Settings

log = logging.getLogger(__name__)
MAX_PATIENTS = 100_000
REFUSED = frozenset({Reason.DUPLICATE, Reason.LATE, Reason.FAR_FUTURE, Reason.START_MISMATCH,
                     Reason.BAD_FS, Reason.BAD_SAMPLES})
"""Issues that mean the frame itself was not used: it goes to the dead-letter topic.
The others (reordered, gap, resync, fs_changed, buffer_overflow, partial_beat) describe the
signal, not a bad record; they are counted in :attr:`SegmenterPool.events`."""


@dataclass
class _Patient:
    segmenter: PatientSegmenter
    count: int = 0
    sent_ms: int = 0
    flushed: bool = False


class SegmenterPool:
    """Per-patient segmenters (least recently used evicted past ``MAX_PATIENTS``).

    A patient's frames reach one worker (partitions are keyed by patient). Continuous-mode
    beat identity is (patient, onset_sample); ``seq`` counts the beats this worker cut.
    """

    def __init__(self, settings: Settings) -> None:
        self.config = SegmenterConfig.from_settings(settings)
        self.fiducial = load_fiducial()
        self.idle_ms = settings.segment_idle_flush_ms
        self._latest_sent = 0  # newest producer send time seen: the stream's event time
        self._last_received = 0  # when this worker last received any frame
        self._by_patient: OrderedDict[str, _Patient] = OrderedDict()
        self.events: dict[str, int] = {}
        self.samples_lost = 0

    def _patient(self, patient: str) -> _Patient:
        entry = self._by_patient.get(patient)
        if entry is None:
            entry = _Patient(PatientSegmenter(self.config, self.fiducial))
            self._by_patient[patient] = entry
            if len(self._by_patient) > MAX_PATIENTS:
                self._by_patient.popitem(last=False)
        self._by_patient.move_to_end(patient)
        return entry

    def push(self, frame: FrameMessage, received_ms: int
             ) -> tuple[list[PendingBeat], list[tuple[str, str]]]:
        """Feed one frame; return the beats it completed and (reason, detail) to dead-letter."""
        state = self._patient(frame.patient)
        result = state.segmenter.push(frame.frame_seq, frame.start_sample, frame.fs,
                                      np.asarray(frame.samples, dtype=np.float64))
        state.sent_ms, state.flushed = frame.sent_ms, False
        self._latest_sent = max(self._latest_sent, frame.sent_ms)
        self._last_received = max(self._last_received, received_ms)
        beats = self._pending(frame.patient, state, result.beats, received_ms)
        return beats, self._triage(frame, result.issues)

    def flush_idle(self, now: int) -> list[PendingBeat]:
        """Close the last beat of every patient idle for ``idle_ms`` (once per idle spell).

        A monitor that stops sending (end of a replay, a disconnect) would otherwise keep its
        last beat open forever, since a beat ends only where the next one starts. Idle is
        judged in event time (the patient's newest frame is ``idle_ms`` older, by producer
        send time, than the newest frame of any patient) or when no frame at all arrived for
        ``idle_ms``; so a worker working through a backlog does not cut beats short.
        """
        beats = []
        stream_quiet = now - self._last_received >= self.idle_ms
        for patient, state in self._by_patient.items():
            behind = self._latest_sent - state.sent_ms >= self.idle_ms
            if state.flushed or not (behind or stream_quiet):
                continue
            state.flushed = True
            result = state.segmenter.finish()
            for issue in result.issues:
                self.events[issue.reason.value] = self.events.get(issue.reason.value, 0) + 1
                self.samples_lost += issue.samples_lost
            beats += self._pending(patient, state, result.beats, now)
        return beats

    @staticmethod
    def _pending(patient: str, state: _Patient, cut: list, received_ms: int) -> list[PendingBeat]:
        beats = []
        for beat in cut:
            beats.append(PendingBeat(patient, "continuous", state.count, beat.onset_sample,
                                     beat.samples, beat.length, state.sent_ms, received_ms))
            state.count += 1
        return beats

    def _triage(self, frame: FrameMessage, issues: list[Issue]) -> list[tuple[str, str]]:
        refused = []
        for issue in issues:
            self.events[issue.reason.value] = self.events.get(issue.reason.value, 0) + 1
            self.samples_lost += issue.samples_lost
            if issue.reason in REFUSED and issue.frame_seq == frame.frame_seq:
                refused.append((f"frame_{issue.reason.value}", issue.detail))
            else:
                log.debug("patient %s: %s (%s)", frame.patient, issue.reason.value, issue.detail)
        return refused
