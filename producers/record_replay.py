"""Replay real recordings into Kafka as continuous frames of simulated patients.

Each simulated patient plays one recording (patient ``i`` the ``i % len(recordings)``-th),
starting ``(i // len(recordings)) * offset_s`` seconds into it, at its native rate (or
resampled), in the record's units (or converted: µV, V, ADC counts), optionally inverted,
at ``speed`` times real time (0: as fast as possible), for one pass through the record or
looped (the signal goes on across the seam; annotation samples continue). The reference
annotations go to the manifest with each patient's sample indices, never to the worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from producers.gateway import Encoding, SignalSender
from producers.manifest import AnnotationRecord, ExtentRecord, ManifestWriter
from producers.pacing import Pacer
from producers.plan import patient_id
from producers.records import BEAT_SYMBOLS, Annotation, Recording, convert_units
from producers.replay import ProducerLike
from stream.wire.schemas import FRAME_UNITS


@dataclass
class RecordReplayOptions:
    """How to play the recordings; the defaults are ``ecg-stream replay --record``'s."""

    patients: int = 1
    speed: float = 1.0
    frame_s: float = 0.25
    offset_s: float | None = None
    loop: bool = False
    duration: float | None = None
    encoding: Encoding = "json"
    resample: float | None = None
    units: str | None = None
    invert: bool = False
    known_to_model: bool = False


@dataclass
class RecordReplayReport:
    """What a record replay sent."""

    frames_sent: int = 0
    samples_sent: int = 0
    samples_skipped: int = 0
    beats_sent: int = 0
    laps: int = 0
    seconds: float = 0.0


def prepare(recording: Recording, opts: RecordReplayOptions) -> Recording:
    """The recording as it will be sent: resampled, converted, inverted (annotations rescaled)."""
    samples, fs, annotations = recording.samples, recording.fs, recording.annotations
    if opts.resample is not None and opts.resample != fs:
        samples = resample(samples, fs, opts.resample)
        ratio = opts.resample / fs
        annotations = tuple(Annotation(round(a.sample * ratio), a.symbol) for a in annotations)
        fs = float(opts.resample)
    if opts.invert:
        samples = -samples
    units = recording.units
    if opts.units is not None and opts.units != units:
        samples = convert_units(samples, units, opts.units, recording.gain, recording.baseline)
        units = opts.units
    return Recording(samples, fs, recording.lead, units, recording.source, annotations,
                     recording.gain, recording.baseline)


def wire_units(units: str) -> str | None:
    """A recording's units as frames state them (mV, uV, V, adc), or None for others."""
    return units if units in FRAME_UNITS else None


def resample(samples: NDArray[np.float64], fs: float, target: float) -> NDArray[np.float64]:
    """Polyphase resampling to ``target`` Hz; invalid (NaN) stretches stay invalid."""
    from scipy import signal  # local: scipy loads only for a resampled replay

    ratio = Fraction(target / fs).limit_denominator(1000)
    invalid = ~np.isfinite(samples)
    filled = np.where(invalid, 0.0, samples)
    out = signal.resample_poly(filled, ratio.numerator, ratio.denominator)
    if invalid.any():
        mask = signal.resample_poly(invalid.astype(np.float64), ratio.numerator,
                                    ratio.denominator)
        out[mask > 0.01] = np.nan
    return np.asarray(out, dtype=np.float64)


class RecordReplayer:
    """Plays prepared recordings as ``patients`` simulated patients into ``topic``."""

    def __init__(self, producer: ProducerLike, topic: str, recordings: list[Recording],
                 opts: RecordReplayOptions, manifest: ManifestWriter,
                 progress: Any = None) -> None:
        if not recordings:
            msg = "no recording to replay"
            raise ValueError(msg)
        self.producer, self.topic, self.opts, self.manifest = producer, topic, opts, manifest
        self.recordings = [prepare(r, opts) for r in recordings]
        self.progress = progress
        self._senders: list[SignalSender] = []
        self._offsets: list[int] = []
        for index in range(opts.patients):
            record = self.recordings[index % len(self.recordings)]
            share = index // len(self.recordings)
            per = len(range(index % len(self.recordings), opts.patients, len(self.recordings)))
            offset_s = opts.offset_s if opts.offset_s is not None else (
                record.duration_s / per)
            self._offsets.append(round(share * offset_s * record.fs) % record.samples.size)
            self._senders.append(SignalSender(producer, topic, patient_id(index), record.fs,
                                              max(1, round(opts.frame_s * record.fs)),
                                              opts.encoding,
                                              known_to_model=opts.known_to_model,
                                              units=wire_units(record.units)))

    def run(self) -> RecordReplayReport:
        """Send one pass of every patient's recording (or laps until ``duration``)."""
        opts, report = self.opts, RecordReplayReport()
        fs_total = sum(self.recordings[i % len(self.recordings)].fs
                       for i in range(opts.patients))
        pacer = Pacer(fs_total * opts.speed if opts.speed > 0 else 0.0)
        deadline = None if opts.duration is None else time.monotonic() + opts.duration
        lap, done = 0, False
        while not done:
            self._write_annotations(lap)
            done = not self._send_lap(pacer, deadline) or not opts.loop
            lap += 1
        for index, sender in enumerate(self._senders):
            sender.close()
            record = self.recordings[index % len(self.recordings)]
            self.manifest.write_extent(ExtentRecord(sender.patient, sender.position, record.fs))
            report.beats_sent += self._beats_within(index, sender.position)
        self.producer.flush(timeout=60)
        report.laps = lap
        report.frames_sent = sum(s.frames_sent for s in self._senders)
        report.samples_sent = sum(s.samples_sent for s in self._senders)
        report.samples_skipped = sum(s.samples_skipped for s in self._senders)
        report.seconds = pacer.elapsed
        return report

    def _send_lap(self, pacer: Pacer, deadline: float | None) -> bool:
        """One pass through each patient's recording, frames interleaved across patients."""
        sizes = [s.frame_size for s in self._senders]
        n = [self.recordings[i % len(self.recordings)].samples.size
             for i in range(len(self._senders))]
        cursor = [0] * len(self._senders)
        while any(c < total for c, total in zip(cursor, n, strict=True)):
            for index, sender in enumerate(self._senders):
                if cursor[index] >= n[index]:
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                record = self.recordings[index % len(self.recordings)]
                take = min(sizes[index], n[index] - cursor[index])
                lo = (self._offsets[index] + cursor[index]) % n[index]
                chunk = np.take(record.samples, np.arange(lo, lo + take), mode="wrap")
                pacer.wait(take)
                sender.send(chunk)
                cursor[index] += take
                if self.progress is not None:
                    self.progress.update(take / record.fs)
        return True

    def _write_annotations(self, lap: int) -> None:
        """The reference annotations of this lap, in each patient's sample indices."""
        for index in range(len(self._senders)):
            record = self.recordings[index % len(self.recordings)]
            n, offset, pid = record.samples.size, self._offsets[index], patient_id(index)
            for annotation in record.annotations:
                sample = (annotation.sample - offset) % n + lap * n
                self.manifest.write_annotation(AnnotationRecord(pid, sample, annotation.symbol))

    def _beats_within(self, index: int, samples: int) -> int:
        """Beat annotations of patient ``index`` in the ``samples`` its signal ran to."""
        record = self.recordings[index % len(self.recordings)]
        n, offset = record.samples.size, self._offsets[index]
        beats = np.array([(a.sample - offset) % n for a in record.beats], dtype=np.int64)
        laps, rest = divmod(samples, n)
        return int(laps * beats.size + np.count_nonzero(beats < rest))


def swap_beats(record: Recording, other: Recording, count: int,
               after_s: float) -> tuple[Recording, list[int]]:
    """``count`` normal beats of ``record`` after ``after_s`` replaced by ``other``'s samples.

    ``other`` is another lead of the same recording (same rate and length): the swapped beats
    keep their times and get another shape, a known change of morphology for evaluation.
    The beats are spread evenly over the normal (``N``) beats after ``after_s``; each span
    runs from a quarter of the RR before the R peak to three quarters of the RR after it,
    moved to the record's baseline there (its median), so the seams are no steps.

    Returns:
        The recording with the swapped samples, and the annotated samples of the swapped beats.
    """
    if other.fs != record.fs or other.samples.size != record.samples.size:
        msg = "swap_beats: the other lead must have the record's rate and length"
        raise ValueError(msg)
    beats = [a for a in record.annotations if a.symbol in BEAT_SYMBOLS]
    peaks = [a.sample for a in beats]
    normal = [i for i, a in enumerate(beats)
              if a.symbol == "N" and 0 < i < len(beats) - 1 and a.sample >= after_s * record.fs]
    chosen = [normal[round(j)] for j in np.linspace(0, len(normal) - 1, count)] if count else []
    samples = record.samples.copy()
    values = convert_units(other.samples, other.units, record.units, other.gain, other.baseline)
    for i in chosen:
        lo = peaks[i] - (peaks[i] - peaks[i - 1]) // 4
        hi = peaks[i] + 3 * (peaks[i + 1] - peaks[i]) // 4
        span = values[lo:hi]
        samples[lo:hi] = span - np.nanmedian(span) + np.nanmedian(record.samples[lo:hi])
    swapped = Recording(samples, record.fs, record.lead, record.units, record.source,
                        record.annotations, record.gain, record.baseline)
    return swapped, [peaks[i] for i in chosen]
