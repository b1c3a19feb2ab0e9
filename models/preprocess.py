"""Beat normalization exactly as in ECG5000: the single owner of "normalize as in training"."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BEAT_LENGTH = 140
_EPS = 1e-8


def znormalize(beats: NDArray[np.floating]) -> NDArray[np.float32]:
    """Z-normalize each beat as ECG5000 does: mean 0, sample standard deviation (ddof=1) 1.

    A flat beat (standard deviation below 1e-8) becomes all zeros instead of NaN.

    Args:
        beats: shape ``(n, length)`` or ``(length,)``, any float dtype, arbitrary units.

    Returns:
        float32 array of the input's shape, dimensionless.
    """
    values = np.asarray(beats, dtype=np.float64)
    mean = values.mean(axis=-1, keepdims=True)
    std = values.std(axis=-1, ddof=1, keepdims=True)
    safe = np.where(std < _EPS, 1.0, std)
    out = np.where(std < _EPS, 0.0, (values - mean) / safe)
    return out.astype(np.float32)
