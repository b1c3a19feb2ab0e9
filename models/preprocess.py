"""A beat as the model was trained on it: 140 samples (resampled), z-normalized as ECG5000."""

from __future__ import annotations

from functools import lru_cache

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


def resample_beat(beat: NDArray[np.floating], length: int) -> NDArray[np.float64]:
    """Resample one beat to ``length`` samples with a cubic spline, keeping both end points.

    Args:
        beat: shape ``(n,)`` with n >= 2, any units.
        length: samples wanted, >= 1.

    Returns:
        float64, shape ``(length,)``, same units.
    """
    values = np.asarray(beat, dtype=np.float64)
    if values.size < 4:
        grid = np.linspace(0.0, values.size - 1.0, length)
        return np.interp(grid, np.arange(values.size), values)
    return _spline_operator(values.size, length) @ values


@lru_cache(maxsize=96)
def _spline_operator(size: int, length: int) -> NDArray[np.float64]:
    """The (linear) not-a-knot cubic spline resampling ``size`` -> ``length`` as a matrix.

    A spline is linear in the samples, so one product replaces building a spline per beat
    (the same values to rounding, about 10x faster on the worker's beat cuts).
    """
    grid = np.linspace(0.0, size - 1.0, length)
    from scipy import interpolate  # local: scipy costs ~1 s, and --help imports this module

    operator = interpolate.CubicSpline(np.arange(size), np.eye(size))(grid)
    operator.setflags(write=False)
    return operator
