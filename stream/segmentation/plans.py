"""Per-rate preparations of the segmenter (matched filter, beat shapes), shared, bounded."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from stream.segmentation.beatfit import BeatFit, fit_bounds, fit_nbytes, stretched
from stream.segmentation.fiducial import Fiducial

SUPPORTED_RATES = (100.0, 1000.0)
"""Sampling rates (Hz) the segmenter supports; frames outside are refused (``bad_fs``)."""
MAX_WORKING_RATE = 200.0
"""Frames above this rate (Hz) are decimated by ``ceil(fs / MAX_WORKING_RATE)`` (block means)
before segmentation, so per-rate memory and time stay bounded: the beat-shape stacks of
:func:`stream.segmentation.beatfit.stretched` grow with the square of the rate (82 MiB at 200 Hz, 2
GiB at 1000 Hz undecimated)."""
RATES_CACHED = 3
"""Default number of per-rate beat-shape stacks a :class:`RatePlans` keeps (LRU)."""


def decimation(fs: float) -> int:
    """Samples per working sample at ``fs`` Hz: 1 up to :data:`MAX_WORKING_RATE`."""
    return max(1, math.ceil(fs / MAX_WORKING_RATE - 1e-9))


@dataclass(frozen=True)
class RatePlan:
    """What a segmenter needs at one sampling rate, all in working samples.

    Attributes:
        fs: the stream's sampling rate, Hz.
        step: stream samples per working sample (:func:`decimation`).
        template: matched filter at the working rate.
        refractory: shortest beat, working samples.
        nominal: nominal beat length, working samples.
        fit: the stretched beat shapes (shared by every rate with the same ``key``), or None.
        radius: refinement radii (detected, interpolated), working samples.
        key: the fit's length bounds, its identity in :class:`RatePlans`.
    """

    fs: float
    step: int
    template: NDArray[np.float64]
    refractory: int
    nominal: float
    fit: BeatFit | None
    radius: tuple[int, int]
    key: tuple[int, int]


class RatePlans:
    """Per-rate preparations shared by segmenters; at most ``capacity`` fits (LRU).

    Building a fit takes up to about 0.2 s and 82 MiB (at the 200 Hz working-rate cap):
    :meth:`build` is pure, so a caller may run it in a thread and hand the result to
    :meth:`add`. Keys evicted to make room are kept in :attr:`evicted` until
    :meth:`take_evicted`, so that the owner can release the segmenters still holding them.
    """

    def __init__(self, fiducial: Fiducial, capacity: int = RATES_CACHED) -> None:
        self.fiducial, self.capacity = fiducial, max(1, capacity)
        self._fits: OrderedDict[tuple[int, int], BeatFit | None] = OrderedDict()
        self.evicted: list[tuple[int, int]] = []

    def __len__(self) -> int:
        """Fits kept."""
        return len(self._fits)

    def nominal(self, fs: float) -> float:
        """Nominal beat length at the working rate of ``fs``, working samples."""
        return self.fiducial.beat_length * fs / decimation(fs) / self.fiducial.fs

    def key(self, fs: float) -> tuple[int, int]:
        """The identity of the fit that ``fs`` uses."""
        return fit_bounds(self.nominal(fs))

    def ready(self, fs: float) -> bool:
        """Whether the fit of ``fs`` is prepared."""
        return self.key(fs) in self._fits

    def build(self, fs: float) -> BeatFit | None:
        """Prepare the fit of ``fs`` (pure: safe in a worker thread); None without shapes."""
        templates = self.fiducial.beat_templates
        return stretched(templates, self.nominal(fs)) if templates else None

    def add(self, fs: float, fit: BeatFit | None) -> None:
        """Keep a built fit, evicting the least recently used past ``capacity``."""
        key = self.key(fs)
        self._fits[key] = fit
        self._fits.move_to_end(key)
        while len(self._fits) > self.capacity:
            self.evicted.append(self._fits.popitem(last=False)[0])

    def take_evicted(self) -> list[tuple[int, int]]:
        """Keys evicted since the last call."""
        evicted, self.evicted = self.evicted, []
        return evicted

    @property
    def nbytes(self) -> int:
        """Bytes of the kept fits."""
        return sum(f.left.nbytes + f.right.nbytes for f in self._fits.values() if f is not None)

    def fit_nbytes(self, fs: float) -> int:
        """Bytes the fit of ``fs`` takes (without building it)."""
        return fit_nbytes(len(self.fiducial.beat_templates), self.nominal(fs))

    def plan(self, fs: float) -> RatePlan:
        """Everything needed at ``fs`` (the fit is built here when not prepared yet)."""
        key = self.key(fs)
        if key not in self._fits:
            self.add(fs, self.build(fs))
        self._fits.move_to_end(key)
        step, nominal = decimation(fs), self.nominal(fs)
        template, refractory = self.fiducial.scaled(fs / step)
        radius = tuple(round(r * nominal) for r in self.fiducial.refine_radius)
        return RatePlan(fs, step, template, refractory, nominal, self._fits[key],
                        (radius[0], radius[1]), key)


@functools.lru_cache(maxsize=4)
def shared_plans(fiducial: Fiducial) -> RatePlans:
    """The plans of segmenters made without any (one set per fiducial, kept)."""
    return RatePlans(fiducial)
