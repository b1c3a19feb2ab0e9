"""A beat cut and normalized as in training, waiting for the model (both modes).

Beat mode's records become such beats in :func:`intake_beats`, a micro-batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, resample_beat, znormalize
from stream.wire.binary import BinaryError, beat_fields, is_binary
from stream.wire.decode import RawInput, dead_letter, decode_beat
from stream.wire.schemas import DeadLetter


@dataclass(frozen=True)
class PendingBeat:
    """A beat ready for the model.

    Attributes:
        samples: float32 ``(140,)``, resampled and z-normalized as in training.
        resampled_from: the original length when it was not 140, else None.
        source: the input record the beat came from (beat mode: the beat; continuous mode:
            the frame that completed it), for a dead letter if the beat cannot be scored.
        fiducial_sample: continuous mode, QRS segmenter: the detected R peak.
        sent_ms: beat mode: the beat's send time; continuous mode: the send time of the
            frame that holds the beat's last sample (the beat latency is measured from it).
        cut_sent_ms: continuous mode: the send time of the frame whose arrival completed the
            beat (the patient's newest frame when it was cut; the frame latency).
        fs: continuous mode: the signal's sampling rate (0 in beat mode).
        rr_before, rr_after: continuous mode: the RR intervals before and after the beat,
            samples (:mod:`stream.segmentation.rhythm`; None when unknown).
        premature: continuous mode: RR before short for the patient (None: undecided).
        amplitude: continuous mode, QRS segmenter: the QRS peak-to-peak, signal units.
        known_to_model: continuous mode: the frames declare a patient the model knows
            (judged on the model's threshold, no learning period); beat mode: always.
    """

    patient: str
    mode: Literal["beat", "continuous"]
    seq: int
    onset_sample: int | None
    samples: NDArray[np.float32]
    resampled_from: int | None
    sent_ms: int
    received_ms: int
    source: RawInput | None = None
    fiducial_sample: int | None = None
    fs: float = 0.0
    rr_before: int | None = None
    rr_after: int | None = None
    premature: bool | None = None
    amplitude: float | None = None
    known_to_model: bool = True
    cut_sent_ms: int | None = None

    def rhythm_fields(self) -> dict[str, float | bool | None]:
        """The score record's rhythm fields (all None in beat mode)."""
        def ms(samples: int | None) -> float | None:
            return round(1000.0 * samples / self.fs, 1) if samples and self.fs else None

        return {"rr_before_ms": ms(self.rr_before), "rr_after_ms": ms(self.rr_after),
                "heart_rate_bpm": (round(60.0 * self.fs / self.rr_before, 1)
                                   if self.rr_before and self.fs else None),
                "premature": self.premature}


def to_model_input(samples: Sequence[float] | NDArray[np.floating]) -> NDArray[np.float32]:
    """Resample one beat to 140 samples (the segmenter's cubic spline) and z-normalize it."""
    values = np.asarray(samples, dtype=np.float64)
    if len(values) != BEAT_LENGTH:
        values = resample_beat(values, BEAT_LENGTH)
    return znormalize(values)


@dataclass
class BeatIntake:
    """A micro-batch of beat-mode records as columns for the model, and the records refused.

    Column ``i`` of every list is one beat, in input order; ``rows[i]`` is its model input
    (float32 ``(140,)``, resampled and z-normalized as in training).
    """

    patients: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    sent_ms: list[int] = field(default_factory=list)
    resampled_from: list[int | None] = field(default_factory=list)
    rows: list[NDArray[np.float32]] = field(default_factory=list)
    sources: list[RawInput] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def keep(self, mask: Sequence[bool]) -> BeatIntake:
        """The beats where ``mask`` is true (the dead letters stay)."""
        def pick(column: list[Any]) -> list[Any]:
            return [v for v, ok in zip(column, mask, strict=True) if ok]
        return BeatIntake(pick(self.patients), pick(self.seqs), pick(self.sent_ms),
                          pick(self.resampled_from), pick(self.rows), pick(self.sources),
                          self.dead)


def intake_beats(records: Sequence[RawInput], max_bytes: int, worker: str) -> BeatIntake:
    """Decode ``ecg.beats`` records and make their model inputs; the rest become letters.

    A float32 binary record whose key is its patient is read straight into an array (no
    message object; checked as :func:`stream.wire.binary.parse_beat` checks it); any other
    record goes through :func:`stream.wire.decode.decode_beat`, so every record refused gets
    the dead letter the decoder gives it. Beats of 140 samples are normalized together in
    one call (float32 first, as the model's data are: a float32 value sent as its shortest
    decimal parses to a float64 a hair away from it); others are resampled one by one and
    carry their length in ``resampled_from``. A beat whose model input is not finite, or
    whose resampling fails, is refused with reason ``unprocessable``.
    """
    out = BeatIntake()
    decoded = [beat for raw in records
               if (beat := _decoded(raw, max_bytes, worker, out.dead)) is not None]
    regular = [i for i, beat in enumerate(decoded) if len(beat[4]) == BEAT_LENGTH]
    ready: dict[int, NDArray[np.float32] | None] = {}
    if regular:
        with np.errstate(all="ignore"):
            block = znormalize(np.stack([decoded[i][4].astype(np.float32, copy=False)
                                         for i in regular]))
        finite: list[bool] = np.asarray(np.isfinite(block).all(axis=1)).tolist()
        ready = {i: row if ok else None for i, row, ok in zip(regular, block, finite, strict=True)}
    for i, beat in enumerate(decoded):  # input order: each patient's beats in arrival order
        if i in ready:
            _add(out, beat, ready[i], None, worker)
            continue
        try:
            with np.errstate(all="ignore"):
                row = to_model_input(beat[4])
        except (ValueError, ArithmeticError) as exc:
            out.dead.append(dead_letter(beat[0], "unprocessable",
                                        f"model input: {exc!r}"[:300], worker))
            continue
        _add(out, beat, row if np.isfinite(row).all() else None, len(beat[4]), worker)
    return out


def _decoded(raw: RawInput, max_bytes: int, worker: str, dead: list[DeadLetter]
             ) -> tuple[RawInput, str, int, int, NDArray[np.floating]] | None:
    """One record as (record, patient, seq, sent_ms, samples), or its dead letter.

    Binary samples are float32 as sent; JSON samples are float64 as parsed (a beat that must
    be resampled is resampled from them; one of 140 samples is made float32 first).
    """
    value = raw.value
    if value and len(value) <= max_bytes and is_binary(value):
        try:
            patient, seq, sent, samples = beat_fields(value)
        except BinaryError as exc:
            dead.append(dead_letter(raw, exc.reason, exc.detail, worker))
            return None
        if raw.key is not None and raw.key == patient.encode():
            return raw, patient, seq, sent, samples
    message = decode_beat(raw, max_bytes)  # JSON, and the letter of every record refused
    if isinstance(message, DeadLetter):
        dead.append(message.model_copy(update={"worker": worker}))
        return None
    return (raw, message.patient, message.seq, message.sent_ms,
            np.asarray(message.samples, dtype=np.float64))


def _add(out: BeatIntake, beat: tuple[RawInput, str, int, int, NDArray[np.floating]],
         row: NDArray[np.float32] | None, resampled_from: int | None, worker: str) -> None:
    raw, patient, seq, sent, _ = beat
    if row is None:
        out.dead.append(dead_letter(raw, "unprocessable", "model input not finite after "
                                    "resampling and normalization", worker))
        return
    out.patients.append(patient)
    out.seqs.append(seq)
    out.sent_ms.append(sent)
    out.resampled_from.append(resampled_from)
    out.rows.append(row)
    out.sources.append(raw)
