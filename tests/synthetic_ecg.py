"""Synthetic ECG with known beats: Gaussian P, Q, R, S and T waves at chosen R peak times.

Each beat is a sum of Gaussians placed relative to its R peak (the shape of McSharry et al.'s
ECGSYN, in time rather than phase), so the R peak of every beat is known exactly. Wave
widths are fixed in seconds, so the signal is the same beat at any sampling rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# (offset from the R peak in s, amplitude in mV, width (sd) in s) of P, Q, R, S, T.
WAVES = ((-0.20, 0.15, 0.025), (-0.035, -0.12, 0.010), (0.0, 1.2, 0.011),
         (0.035, -0.25, 0.011), (0.28, 0.30, 0.050))


@dataclass(frozen=True)
class Synthetic:
    """A synthetic recording: samples (mV), sampling rate and the R peak sample of each beat."""

    signal: NDArray[np.float64]
    fs: float
    r_peaks: NDArray[np.int64]


def rr_series(bpm: NDArray[np.float64] | list[float], beats_each: int = 20) -> NDArray[np.float64]:
    """RR intervals (s): ``beats_each`` beats at each heart rate of ``bpm``, ramped between."""
    rates = np.repeat(np.asarray(bpm, dtype=np.float64), beats_each)
    return 60.0 / rates


def synthesize(rr: NDArray[np.float64] | list[float], fs: float, *, first: float = 0.6,
               noise: float = 0.0, wander: float = 0.0, rng: np.random.Generator | None = None,
               tail: float = 1.0) -> Synthetic:
    """Beats whose R peaks follow ``rr`` (s) from ``first`` s; noise and wander in mV.

    ``wander`` is the amplitude of a 0.3 Hz sinusoid plus a slow drift; ``noise`` the
    standard deviation of white noise.
    """
    rr = np.asarray(rr, dtype=np.float64)
    times = first + np.concatenate([[0.0], np.cumsum(rr)[:-1]])
    n = int(np.ceil((times[-1] + tail) * fs))
    t = np.arange(n) / fs
    x = np.zeros(n)
    for centre in times:
        lo, hi = max(0, int((centre - 0.5) * fs)), min(n, int((centre + 0.6) * fs) + 1)
        seg = t[lo:hi]
        for offset, amplitude, width in WAVES:
            x[lo:hi] += amplitude * np.exp(-0.5 * ((seg - centre - offset) / width) ** 2)
    if wander:
        x += wander * (np.sin(2 * np.pi * 0.3 * t) + 0.5 * np.sin(2 * np.pi * 0.05 * t + 1.0))
    if noise:
        x += (rng or np.random.default_rng(0)).normal(0.0, noise, n)
    peaks = np.round(times * fs).astype(np.int64)
    return Synthetic(x, fs, peaks)
