"""A beat as the model was trained on it: 140 samples (resampled), z-normalized as ECG5000."""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import lapack

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
    if values.ndim == 1 and values.size > 1:  # one beat (the segmenters): no broadcasting
        centred = values - values.sum() / values.size
        std = float(np.sqrt(centred @ centred / (values.size - 1)))
        if std < _EPS:
            return np.zeros(values.size, dtype=np.float32)
        return (centred / std).astype(np.float32)
    mean = values.mean(axis=-1, keepdims=True)
    std = values.std(axis=-1, ddof=1, keepdims=True)
    safe = np.where(std < _EPS, 1.0, std)
    out = np.where(std < _EPS, 0.0, (values - mean) / safe)
    return out.astype(np.float32)


def resample_beat(beat: NDArray[np.floating], length: int) -> NDArray[np.float64]:
    """Resample one beat to ``length`` samples with a cubic spline, keeping both end points.

    The not-a-knot cubic spline of :class:`scipy.interpolate.CubicSpline` (same values to
    1e-15), solved directly: on unit knots the not-a-knot ends give the second derivatives
    at the second and the next-to-last knot outright, and the rest is one symmetric positive
    definite tridiagonal system (LAPACK ``dptsv``), about 20 us a beat at any length.

    Args:
        beat: shape ``(n,)`` with n >= 2, any units.
        length: samples wanted, >= 1.

    Returns:
        float64, shape ``(length,)``, same units.
    """
    y = np.asarray(beat, dtype=np.float64)
    n = y.size
    if n < 4:
        return np.interp(np.linspace(0.0, n - 1.0, length), np.arange(n), y)
    grid = _grid(n, length)
    rhs = 6.0 * (y[:-2] - 2.0 * y[1:-1] + y[2:])  # rows 1..n-2 of M[i-1] + 4 M[i] + M[i+1]
    m = np.empty(n)
    m[1], m[n - 2] = rhs[0] / 6.0, rhs[-1] / 6.0  # not-a-knot: M0 = 2 M1 - M2 in row 1
    inner = n - 4
    if inner == 1:
        m[2] = (rhs[1] - m[1] - m[n - 2]) / 4.0
    elif inner > 1:
        b = rhs[1:-1]
        b[0] -= m[1]
        b[-1] -= m[n - 2]
        diagonal, off = _tridiagonal(inner)
        _, _, solved, info = lapack.dptsv(diagonal, off, b, overwrite_b=True)
        if info != 0:  # the matrix is diagonally dominant: never singular
            msg = f"dptsv info={info}"
            raise np.linalg.LinAlgError(msg)
        m[2 : n - 2] = solved
    m[0] = 2.0 * m[1] - m[2]
    m[n - 1] = 2.0 * m[n - 2] - m[n - 3]
    i, s, t, cs, ct = grid
    return s * y[i] + t * y[i + 1] + cs * m[i] + ct * m[i + 1]


@functools.lru_cache(maxsize=1024)
def _grid(n: int, length: int) -> tuple[NDArray[np.int64], NDArray[np.float64],
                                         NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.float64]]:
    """Knot index and spline weights of each output point for ``n`` samples to ``length``.

    About 5.6 KB for 140 outputs; cached per beat length (a few hundred lengths in a feed).
    """
    grid = np.linspace(0.0, n - 1.0, length)
    i = np.minimum(grid.astype(np.int64), n - 2)
    t = grid - i
    s = 1.0 - t
    for array in (i, s, t):
        array.flags.writeable = False
    cs, ct = (s * s * s - s) / 6.0, (t * t * t - t) / 6.0
    cs.flags.writeable = ct.flags.writeable = False
    return i, s, t, cs, ct


@functools.lru_cache(maxsize=1024)
def _tridiagonal(inner: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Diagonal (4) and off-diagonal (1) of the spline's inner system (dptsv copies them)."""
    diagonal, off = np.full(inner, 4.0), np.ones(inner - 1)
    diagonal.flags.writeable = off.flags.writeable = False
    return diagonal, off
