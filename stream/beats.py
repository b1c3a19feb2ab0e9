"""A beat cut and normalized as in training, waiting for the model (both modes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, resample_beat, znormalize
from stream.wire.decode import RawInput


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
