"""A beat cut and normalized as in training, waiting for the model (both modes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

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
            frame that holds the beat's last sample (latency is measured from it).
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
