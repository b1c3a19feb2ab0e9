"""Send a replay plan to Kafka with kafka-python: beat mode or continuous frames."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from producers.manifest import ManifestRecord, ManifestWriter
from producers.pacing import Pacer
from producers.plan import Assignment, assign, patient_id
from stream.wire.binary import encode_beat, encode_frame, sample_bytes
from stream.wire.encode import beat_json, frame_json, samples_json
from stream.wire.schemas import now_ms

log = logging.getLogger(__name__)
Mode = Literal["beat", "continuous"]
Encoding = Literal["json", "f32"]
NOMINAL_FS = 140.0  # Hz: a 140-sample ECG5000 beat lasts about 1 s (60 bpm)


class ProducerLike(Protocol):
    """The Kafka producer as :class:`Replayer` calls it (kafka-python's ``KafkaProducer``)."""

    def send(self, topic: str, *, key: bytes, value: bytes) -> object:
        """Queue one record for ``topic``."""

    def flush(self, timeout: float | None = None) -> object:
        """Block until every queued record was sent (at most ``timeout`` s)."""


@dataclass
class ReplayOptions:
    """What to replay and how fast; the defaults are ``ecg-stream replay``'s (see its --help).

    ``hrv`` defaults to :data:`producers.stitch.DEFAULT_HRV` (not imported here: scipy).
    """

    mode: Mode = "beat"
    patients: int = 16
    rate: float = 0.0
    duration: float | None = None
    loop: bool = False
    seed: int = 0
    frame_size: int = 128
    hrv: tuple[int, int] | None = (120, 160)
    encoding: Encoding = "json"


@dataclass
class ReplayReport:
    """What a replay sent."""

    beats_sent: int = 0
    frames_sent: int = 0
    laps: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def beats_per_s(self) -> float:
        """Achieved offered rate."""
        return self.beats_sent / self.seconds if self.seconds else 0.0


class Replayer:
    """Replays rows of ECG5000 (beats ``(5000, 140)``, labels ``(5000,)``) into Kafka."""

    def __init__(self, producer: ProducerLike, beats_topic: str, signal_topic: str,
                 beats: NDArray[np.float32], labels: NDArray[np.integer],
                 rows: NDArray[np.int64], options: ReplayOptions,
                 manifest: ManifestWriter, progress: Any = None) -> None:
        self.producer, self.options, self.manifest = producer, options, manifest
        self.beats_topic, self.signal_topic = beats_topic, signal_topic
        self.beats, self.labels, self.rows = beats, labels, rows
        self.progress = progress
        self._next_onset: dict[int, int] = {}
        self._next_frame: dict[int, int] = {}
        self._beat_samples: dict[int, str | bytes] = {}

    def run(self) -> ReplayReport:
        """Send laps until the plan (or ``duration``) is done; flush; return the counts."""
        report, pacer = ReplayReport(), Pacer(self.options.rate)
        duration = self.options.duration
        deadline = None if duration is None else time.monotonic() + duration
        lap = 0
        while True:
            plan = assign(self.rows, self.options.patients, self.options.seed, lap)
            send = self._send_beats if self.options.mode == "beat" else self._send_frames
            finished = send(plan, pacer, deadline, report)
            report.laps = lap + 1
            lap += 1
            if not finished or not self.options.loop:
                break
        self.producer.flush(timeout=60)
        report.seconds = pacer.elapsed
        return report

    def _send_beats(self, plan: Assignment, pacer: Pacer, deadline: float | None,
                    report: ReplayReport) -> bool:
        for row, patient, seq in zip(plan.rows, plan.patient, plan.seq, strict=True):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            pacer.wait(1)
            pid, sent = patient_id(int(patient)), now_ms()
            self.manifest.write(ManifestRecord("beat", pid, int(seq), None, self.beats.shape[1],
                                               int(row), int(self.labels[row]), sent))
            self.producer.send(self.beats_topic, key=pid.encode(),
                               value=self._beat_value(int(row), pid, int(seq), sent))
            report.beats_sent += 1
            self._tick(1)
        return True

    def _beat_value(self, row: int, pid: str, seq: int, sent: int) -> bytes:
        """The BeatMessage value; each row's samples are encoded once and reused (load tests)."""
        samples = self._beat_samples.get(row)
        if samples is None:
            beat = self.beats[row]
            samples = sample_bytes(beat) if self.options.encoding == "f32" else samples_json(beat)
            self._beat_samples[row] = samples
        if isinstance(samples, bytes):
            return encode_beat(pid, seq, samples, sent)
        return beat_json(pid, seq, samples, sent)

    def _frame_value(self, pid: str, frame_seq: int, start: int,
                     samples: NDArray[np.float32]) -> bytes:
        """The FrameMessage value of one frame (schema 2: these patients are the model's own).

        ECG5000's beats are its training patient's, so the stitched replay declares
        ``known_to_model``: judged on the calibrated threshold, with no learning period.
        """
        if self.options.encoding == "f32":
            return encode_frame(pid, frame_seq, start, NOMINAL_FS, samples, now_ms(),
                                known_to_model=True)
        return frame_json(pid, frame_seq, start, NOMINAL_FS, samples, now_ms(),
                          known_to_model=True)

    def _send_frames(self, plan: Assignment, pacer: Pacer, deadline: float | None,
                     report: ReplayReport) -> bool:
        streams = [self._patient_frames(plan, p) for p in range(self.options.patients)]
        per_beat = len(self.beats[0])
        while streams:
            for frames in list(streams):
                item = next(frames, None)
                if item is None:
                    streams.remove(frames)
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                pid, value, samples, beats_done = item
                pacer.wait(samples / per_beat)
                self.producer.send(self.signal_topic, key=pid.encode(), value=value)
                report.frames_sent += 1
                report.beats_sent += beats_done
                self._tick(beats_done)
        return True

    def _patient_frames(self, plan: Assignment, patient: int
                        ) -> Iterator[tuple[str, bytes, int, int]]:
        from producers.stitch import (  # local: scipy loads only when used (fast --help)
            frames,
            stitch,
        )

        mine = plan.rows[plan.patient == patient]
        if len(mine) == 0:
            return
        seqs = plan.seq[plan.patient == patient]
        pid = patient_id(patient)
        rng = np.random.default_rng([self.options.seed, patient, int(seqs[0])])
        stitched = stitch(self.beats[mine], rng, self.options.hrv)
        base = self._next_onset.get(patient, 0)
        ends = np.asarray(stitched.onsets) + np.asarray(stitched.lengths)
        for row, seq, onset, length in zip(mine, seqs, stitched.onsets, stitched.lengths,
                                           strict=True):
            self.manifest.write(ManifestRecord("continuous", pid, int(seq), base + int(onset),
                                               int(length), int(row), int(self.labels[row])))
        first = self._next_frame.get(patient, 0)
        for frame_seq, start, samples in frames(stitched.signal, self.options.frame_size, first):
            value = self._frame_value(pid, int(frame_seq), base + int(start), samples)
            done = int(np.count_nonzero((ends > start) & (ends <= start + len(samples))))
            self._next_frame[patient] = int(frame_seq) + 1
            yield pid, value, len(samples), done
        self._next_onset[patient] = base + len(stitched.signal)

    def _tick(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress.update(n)
