"""Continuous-mode signal model: stitch single beats into one patient's signal, cut it in frames.

Pure numpy/scipy: no I/O, no Kafka. The replay producer calls :func:`stitch` once per
simulated patient, sends :func:`frames` as ``FrameMessage`` values and writes the returned
true onsets (never sent to the worker) to the replay manifest.

Signal model (see ``docs/continuous-mode.md``):

* Beats are joined end to end: beat ``k`` occupies samples ``[onsets[k], onsets[k] + lengths[k])``
  and the next beat starts right after it. ECG5000 beats were cut from one continuous record
  (chf07) at the same point of each cardiac cycle (on the steep down-slope of the QRS), but
  each beat was z-normalized on its own, so raw end-to-end joins show a level step that a
  real ECG does not have (median ``|beat[-1] - next[0]|`` 1.2 standard deviations on a
  shuffled TEST split, and the jump has the wrong sign: upwards where the down-slope goes on).
* Joins (``join``): :data:`JOIN_LEVEL` (the default) adds one constant to each whole beat so
  that its first sample continues the previous beat along the local slope (the mean of the
  last difference of the previous beat and the first difference of this one); the
  accumulated offset is pulled back toward 0 by :data:`OFFSET_DECAY` per beat, so it cannot
  drift without bound (the remaining join mismatch is ``(1 - OFFSET_DECAY)`` times the offset,
  median 0.4 SD against 1.5 SD raw). A per-beat constant is removed by the worker's per-beat
  z-normalization, so a beat cut exactly is unchanged. :data:`JOIN_RAW` keeps the old raw
  joins (the step included) for comparison.
* Heart-rate variability (``hrv=(lo, hi)``): each beat is first resampled to a length drawn
  uniformly from ``[lo, hi]`` samples. The default :data:`DEFAULT_HRV` = (120, 160) is
  about +/-14 % around the 140 samples of a beat, the beat-to-beat RR spread of a resting
  adult (60-70 bpm with +/-10-15 % variability); wider ranges are allowed.
* Resampling uses a cubic spline through the samples with both end points kept
  (:func:`models.preprocess.resample_beat`): of linear, cubic, modified Akima, FFT and
  polyphase resampling it changed ECG5000 beats least on a 140 -> n -> 140 round trip (mean absolute
  error 0.012 for n=120, 0.004 for n=160, in units of the beat's standard deviation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, resample_beat

DEFAULT_HRV: tuple[int, int] = (120, 160)
JOIN_LEVEL = "level"
"""Each beat shifted by a constant so that it continues the previous one (no level step)."""
JOIN_RAW = "raw"
"""Beats joined as they are: a level step at every join (z-normalized one by one)."""
JOINS = (JOIN_LEVEL, JOIN_RAW)
OFFSET_DECAY = 0.9
"""Share of the accumulated per-beat offset kept from one beat to the next (level joins)."""
_MIN_LENGTH = 16


@dataclass(frozen=True)
class Stitched:
    """One patient's continuous signal and where its beats truly are.

    Attributes:
        signal: float32, shape ``(sum(lengths),)``, z-normalized units (per beat).
        onsets: int64, shape ``(n,)``, index of each beat's first sample in ``signal``.
        lengths: int64, shape ``(n,)``, each beat's length in samples (140 without HRV).
    """

    signal: NDArray[np.float32]
    onsets: NDArray[np.int64]
    lengths: NDArray[np.int64]


def beat_lengths(
    n: int, rng: np.random.Generator, hrv: tuple[int, int] | None, base: int = BEAT_LENGTH
) -> NDArray[np.int64]:
    """Draw the length of each of ``n`` beats.

    Args:
        n: number of beats.
        rng: the random generator (the only source of randomness).
        hrv: inclusive ``(lo, hi)`` range of lengths in samples, or None for ``base`` each.
        base: length without HRV, samples.

    Returns:
        int64 array of shape ``(n,)``.

    Raises:
        ValueError: ``hrv`` is not an increasing range of at least 16 samples.
    """
    if hrv is None:
        return np.full(n, base, dtype=np.int64)
    lo, hi = hrv
    if lo < _MIN_LENGTH or hi < lo:
        msg = f"hrv range must satisfy {_MIN_LENGTH} <= lo <= hi, got {hrv}"
        raise ValueError(msg)
    return rng.integers(lo, hi, size=n, endpoint=True).astype(np.int64)


def stitch(
    beats: NDArray[np.float32],
    rng: np.random.Generator,
    hrv: tuple[int, int] | None = DEFAULT_HRV,
    join: str = JOIN_LEVEL,
) -> Stitched:
    """Join beats end to end into one continuous signal.

    Args:
        beats: float32, shape ``(n, 140)``, one beat per row in playing order.
        rng: random generator drawing the HRV lengths (unused when ``hrv`` is None).
        hrv: inclusive ``(lo, hi)`` range of beat lengths in samples; None keeps 140.
        join: :data:`JOIN_LEVEL` (step-free, default) or :data:`JOIN_RAW` (level steps).

    Returns:
        The signal with the true onset and length of each beat.

    Raises:
        ValueError: ``beats`` is not a non-empty 2-D array, ``hrv`` or ``join`` is invalid.
    """
    if join not in JOINS:
        msg = f"join must be one of {JOINS}, got {join!r}"
        raise ValueError(msg)
    values = np.asarray(beats, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        msg = f"beats must have shape (n, length) with n >= 1, got {values.shape}"
        raise ValueError(msg)
    lengths = beat_lengths(values.shape[0], rng, hrv, base=values.shape[1])
    pieces = [
        row if length == row.size else resample_beat(row, int(length))
        for row, length in zip(values, lengths, strict=True)
    ]
    if join == JOIN_LEVEL:
        pieces = level_joins(pieces)
    onsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    signal = np.concatenate(pieces).astype(np.float32)
    return Stitched(signal=signal, onsets=onsets, lengths=lengths)


def level_joins(
    pieces: list[NDArray[np.float64]], decay: float = OFFSET_DECAY
) -> list[NDArray[np.float64]]:
    """Shift each beat by a constant so that it continues the one before (no level step).

    Args:
        pieces: beats in playing order, each of shape ``(length,)`` with length >= 2.
        decay: share of the accumulated offset kept from one beat to the next, in [0, 1).

    Returns:
        The shifted beats; the first one is unchanged.
    """
    out = [pieces[0]]
    offset = 0.0
    for before, piece in zip(pieces[:-1], pieces[1:], strict=True):
        slope = 0.5 * (_first_step(before[::-1]) * -1.0 + _first_step(piece))
        target = before[-1] + offset + slope  # the previous beat went on along its slope
        continuing = float(target - piece[0])
        offset = continuing - (1.0 - decay) * offset
        out.append(piece + offset)
    return out


def _first_step(piece: NDArray[np.float64]) -> float:
    """``piece[1] - piece[0]``, or 0 for a piece of one sample."""
    return float(piece[1] - piece[0]) if piece.size > 1 else 0.0


def frames(
    signal: NDArray[np.floating], frame_size: int, start_seq: int = 0
) -> Iterator[tuple[int, int, NDArray[np.float32]]]:
    """Cut a signal into consecutive frames; the last one may be shorter.

    Args:
        signal: shape ``(n,)``, the patient's signal.
        frame_size: samples per frame, >= 1.
        start_seq: sequence number of the first frame.

    Yields:
        ``(frame_seq, start_sample, samples)``: samples is float32 of shape
        ``(<= frame_size,)`` and starts at index ``start_sample`` of ``signal``.

    Raises:
        ValueError: ``frame_size`` < 1.
    """
    if frame_size < 1:
        msg = f"frame_size must be >= 1, got {frame_size}"
        raise ValueError(msg)
    values = np.asarray(signal, dtype=np.float32)
    for index, start in enumerate(range(0, values.size, frame_size)):
        yield start_seq + index, start, values[start : start + frame_size]
