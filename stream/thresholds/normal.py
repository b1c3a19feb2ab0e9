"""A patient's own normal beat, learned label-free in a learning period (continuous mode).

The shipped autoencoder knows one patient's beats (ECG5000); another patient's normal beats
are far from them. So each new patient's normal is learned from its own first minutes of
signal (EC57 allows the first 5), without labels, and then frozen:

- **Shape on a time grid.** Each beat (140 samples, resampled from its RR-long span) is put
  back on a fixed time grid after its onset (:data:`GRID_MS` in steps of :data:`STEP_MS`)
  and z-normalized there, so the QRS-T complex has the same place, width and scale whatever
  the RR interval (resampled beats stretch it with the heart rate).
- **Size.** The QRS peak-to-peak in the signal's units (the segmenter measures it; beat
  normalization takes it away), as its logarithm: a ratio to the patient's usual size.
- **Learning.** The learning period's beats are kept in a bounded, evenly spread buffer
  (:class:`Learner`: at most :data:`KEEP`, every 2^j-th). At its end the patient's template
  is their coordinate-wise median (a minority of ectopic beats does not move it); the shape
  distance of a beat is its mean absolute difference to the template. The logarithms of
  shape distance and size each get the median and robust standard deviation (1.4826 MAD)
  of the kept beats.
- **Judging.** After learning, a beat is anomalous for morphology when its shape distance and
  its size, each in robust standard deviations from the patient's median, are together
  (their Euclidean norm, the beat's ``morphology_distance``) more than :data:`K_MAD` away
  (:attr:`PatientNormal.judge`).
- **Afterwards.** The template and the spreads never change (missed anomalies cannot drag
  them). Only the size's median follows a slow drift of the QRS amplitude (electrodes,
  posture: record 100's grows by about 3 robust SDs over 30 minutes): each beat judged
  normal moves it by :data:`SIZE_STEP` robust SDs towards the beat's size (a sign step, the
  stochastic approximation of a running median), so a missed anomaly moves it by 0.02 SD and
  a run of m missed anomalies by at most m / 50 SD. A patient relearns only when told to.

A learned normal is about 0.4 KB (:meth:`PatientNormal.to_bytes`), the learning buffer at
most 23.3 KB (float16). Both are tied to :data:`NORMAL_VERSION` (the grid and the rule): a
new version means relearning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

GRID_MS = 360.0
"""Length of the time grid after a beat's onset: the QRS complex, ST segment and T wave."""
STEP_MS = 4.0
"""Grid step (90 points)."""
KEEP = 128
"""Most learning-period beats kept (evenly spread over the period)."""
MIN_BEATS = 16
"""Beats the learning period needs; it goes on until it has them."""
K_MAD = 6.0
"""Robust standard deviations from the patient's median beyond which a beat is anomalous."""
SIZE_STEP = 0.02
"""Robust SDs of size by which each beat judged normal moves the size median towards it."""
NORMAL_VERSION = "grid360x4-zn-median-hypot(logdist,qrs-size)-step0.02-k6"
"""Version of the learned normal (grid, template and threshold rule)."""

_GRID_POINTS = round(GRID_MS / STEP_MS)
_HEADER = struct.Struct("<4sIffffI")  # magic, version length, 4 statistics, beats
SHAPE_FLOOR = 0.01
"""Least robust standard deviation of log shape distances (a perfectly regular signal)."""
DISTANCE_EPS = 1e-3
"""Added to a shape distance before its logarithm (an exact copy of the template)."""
SIZE_FLOOR = 0.01
"""Least robust standard deviation of log sizes: 1 %, above the float16 buffer's rounding."""


def time_grid(beats: NDArray[np.floating], lengths: NDArray[np.integer] | list[int],
              fs: float) -> NDArray[np.float32]:
    """Beats on the fixed time grid after their onsets; shape ``(n, 90)``.

    Args:
        beats: ``(n, 140)`` beats as the model sees them (resampled, normalized).
        lengths: each beat's raw length in samples at ``fs`` (what it was resampled from).
        fs: sampling rate of the signal, Hz.

    Grid points past a beat's end (a beat shorter than :data:`GRID_MS`, above 167 bpm) take
    its last value. Each row is then z-normalized (a flat row is zeros).
    """
    x = np.atleast_2d(np.asarray(beats, dtype=np.float64))
    grid = np.arange(_GRID_POINTS) * (STEP_MS * fs / 1000.0)  # samples after the onset
    out = np.empty((x.shape[0], _GRID_POINTS), dtype=np.float32)
    width = x.shape[1] - 1
    for i, (beat, length) in enumerate(zip(x, np.asarray(lengths).tolist(), strict=True)):
        row = np.interp(grid * (width / max(length - 1, 1)), np.arange(x.shape[1]), beat)
        row -= row.mean()
        std = row.std()
        out[i] = row / std if std > 1e-8 else 0.0
    return out


def distance(grids: NDArray[np.floating], template: NDArray[np.floating]) -> NDArray[np.float64]:
    """Mean absolute distance of each grid (``(n, 90)``) to the template (``(90,)``)."""
    return np.abs(np.atleast_2d(grids) - np.asarray(template)).mean(axis=1, dtype=np.float64)


def log_size(amplitudes: NDArray[np.floating] | list[float | None]) -> NDArray[np.float64]:
    """Log of QRS amplitudes; NaN where unknown or not positive (then size is not judged)."""
    a = np.array([np.nan if v is None else v for v in amplitudes], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), np.nan)


def _robust(values: NDArray[np.float64], floor: float) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 MAD, at least ``floor``) of finite values."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    median = float(np.median(v))
    return median, max(1.4826 * float(np.median(np.abs(v - median))), floor)


@dataclass(frozen=True)
class PatientNormal:
    """A patient's learned normal: shape template and the spread of shape and size.

    Attributes:
        template: float32 ``(90,)``, the coordinate-wise median of the learning beats' grids.
        shape_median, shape_sd: median and robust standard deviation of the logarithm of
            their distances to it (distances are skewed; their logarithm much less).
        size_median, size_sd: the same of their log QRS amplitudes (NaN: size not judged).
        beats: learning beats it was learned from.
        version: :data:`NORMAL_VERSION` when it was learned.
    """

    template: NDArray[np.float32]
    shape_median: float
    shape_sd: float
    size_median: float
    size_sd: float
    beats: int
    version: str

    threshold = K_MAD
    """A beat further than this many robust standard deviations is anomalous."""

    @classmethod
    def learn(cls, grids: NDArray[np.floating], sizes: NDArray[np.floating],
              version: str) -> PatientNormal:
        """The normal of the learning beats: grids ``(n, 90)`` and log sizes ``(n,)``."""
        g = np.atleast_2d(np.asarray(grids, dtype=np.float64))
        template = np.median(g, axis=0)
        shape_median, shape_sd = _robust(np.log(distance(g, template) + DISTANCE_EPS),
                                         SHAPE_FLOOR)
        size_median, size_sd = _robust(np.asarray(sizes, dtype=np.float64), SIZE_FLOOR)
        return cls(template.astype(np.float32), shape_median, shape_sd, size_median, size_sd,
                   len(g), version)

    def judge(self, grids: NDArray[np.floating], sizes: NDArray[np.floating]
              ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Each beat's distance from the normal, and whether it is beyond :data:`K_MAD`.

        The distance is in robust standard deviations from the patient's medians, shape
        (further from the template than usual; closer counts 0) and size (either way) taken
        together: ``hypot(shape, size)`` (size 0 where unknown). A beat moderately off in
        both is as far as one far off in either.
        """
        shape = ((np.log(distance(grids, self.template) + DISTANCE_EPS) - self.shape_median)
                 / self.shape_sd)
        size = np.abs(np.asarray(sizes, dtype=np.float64) - self.size_median) / self.size_sd
        far = np.hypot(np.maximum(shape, 0.0), np.where(np.isfinite(size), size, 0.0))
        return far, far > K_MAD

    def follow_size(self, size: float) -> PatientNormal:
        """The normal after a beat of log size ``size`` judged normal.

        Its size median moved :data:`SIZE_STEP` robust SDs towards ``size`` (unchanged when
        either is unknown).
        """
        if not (np.isfinite(size) and np.isfinite(self.size_median)) or size == self.size_median:
            return self
        step = SIZE_STEP * self.size_sd * (1.0 if size > self.size_median else -1.0)
        return replace(self, size_median=self.size_median + step)

    def to_bytes(self) -> bytes:
        """Compact encoding for the state store (about 0.4 KB)."""
        tag = self.version.encode()
        head = _HEADER.pack(b"ECGN", len(tag), self.shape_median, self.shape_sd,
                            self.size_median, self.size_sd, self.beats)
        return head + tag + self.template.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PatientNormal:
        """Decode :meth:`to_bytes`; ValueError when it is not a learned normal."""
        if len(data) < _HEADER.size or data[:4] != b"ECGN":
            msg = "not a learned normal"
            raise ValueError(msg)
        _, n, shape_median, shape_sd, size_median, size_sd, beats = _HEADER.unpack_from(data)
        tag = data[_HEADER.size : _HEADER.size + n].decode()
        template = np.frombuffer(data, dtype="<f4", offset=_HEADER.size + n)
        if template.size != _GRID_POINTS:
            msg = f"template of {template.size} points, not {_GRID_POINTS}"
            raise ValueError(msg)
        return cls(template.astype(np.float32), shape_median, shape_sd, size_median, size_sd,
                   beats, tag)


@dataclass
class Learner:
    """The learning period's beats, at most :data:`KEEP`, evenly spread; one per patient.

    Beat ``i`` of the period (0-based) is kept when ``i`` is a multiple of ``stride``; when
    the buffer is full, every other kept beat is dropped and the stride doubles, so the kept
    beats stay spread over the whole period whatever its length in beats.
    """

    seen: int = 0
    stride: int = 1
    grids: list[NDArray[np.float16]] = field(default_factory=list)  # grid + log size

    def add(self, grid: NDArray[np.floating], size: float) -> None:
        """One more learning beat: its grid (``(90,)``) and log size (NaN: unknown)."""
        if self.seen % self.stride == 0:
            self.grids.append(np.append(np.asarray(grid, dtype=np.float16), np.float16(size)))
            if len(self.grids) > KEEP:
                self.grids = self.grids[::2]
                self.stride *= 2
        self.seen += 1

    def normal(self, version: str) -> PatientNormal | None:
        """The learned normal, or None while fewer than :data:`MIN_BEATS` beats were seen."""
        if len(self.grids) < MIN_BEATS:
            return None
        rows = np.stack(self.grids).astype(np.float64)
        return PatientNormal.learn(rows[:, :-1], rows[:, -1], version)

    def to_bytes(self) -> bytes:
        """Compact encoding for the state store: counters and float16 grids."""
        body = np.stack(self.grids).astype("<f2").tobytes() if self.grids else b""
        return struct.pack("<4sII", b"ECGL", self.seen, self.stride) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Learner:
        """Decode :meth:`to_bytes`; ValueError when it is not a learning buffer."""
        if len(data) < 12 or data[:4] != b"ECGL":
            msg = "not a learning buffer"
            raise ValueError(msg)
        _, seen, stride = struct.unpack_from("<4sII", data)
        flat = np.frombuffer(data, dtype="<f2", offset=12)
        if flat.size % (_GRID_POINTS + 1):
            msg = "learning buffer of a partial grid"
            raise ValueError(msg)
        grids = [row.astype(np.float16) for row in flat.reshape(-1, _GRID_POINTS + 1)]
        return cls(seen, max(stride, 1), grids)
