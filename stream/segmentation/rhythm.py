"""Rhythm of one patient's beats: RR intervals, heart rate and prematurity (continuous mode).

Both segmenters cut beat k from boundary k to boundary k+1, a boundary being a fiducial point
moved by a constant offset, so a beat's length is the RR interval after it and the previous
beat's length (when the two are contiguous) the RR interval before it. A beat is
**premature** when its RR interval before is shorter than :data:`PREMATURE_FRACTION` of the
patient's running RR: the median of the RR intervals before the last :data:`RUNNING_BEATS`
beats that were not premature. It is undecided (``None``) until :data:`MIN_RUNNING` such
intervals are known, and when the RR before is unknown (the first beat, after a gap).

The fraction was chosen on synthetic signals (``tools/prematurity.py``: sinus rhythm with
respiratory and random heart-rate variability, premature beats at 0.60-0.85 of the RR,
through the QRS detector) and frozen before any measurement on a real record.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

PREMATURE_FRACTION = 0.89
"""A beat whose RR before is below this fraction of the running RR is premature."""
RUNNING_BEATS = 8
"""RR intervals (of beats not premature) the running RR is the median of."""
MIN_RUNNING = 4
"""Intervals needed before prematurity is decided."""


@dataclass(frozen=True)
class Rhythm:
    """A beat's rhythm, in samples of the patient's signal (``fs`` to convert).

    Attributes:
        rr_before: samples from the previous beat's boundary to this one's (None: unknown).
        rr_after: samples from this beat's boundary to the next one's (the beat's length).
        running_rr: the patient's running RR when the beat was judged (None: not yet known).
        premature: whether ``rr_before`` is short for the patient (None: undecided).
    """

    rr_before: int | None
    rr_after: int
    running_rr: float | None
    premature: bool | None

    def heart_rate_bpm(self, fs: float) -> float | None:
        """The instantaneous heart rate from the RR interval before the beat."""
        return 60.0 * fs / self.rr_before if self.rr_before else None


class RhythmTracker:
    """Per patient: the rhythm of each beat from the beats before it; not thread-safe."""

    def __init__(self, fraction: float = PREMATURE_FRACTION, running: int = RUNNING_BEATS,
                 min_running: int = MIN_RUNNING) -> None:
        self.fraction, self.min_running = fraction, min_running
        self._normal_rr: deque[int] = deque(maxlen=running)
        self._last_end: int | None = None
        self._last_length = 0

    def observe(self, onset: int, length: int) -> Rhythm:
        """The rhythm of the beat at ``onset`` of ``length`` samples (beats in signal order)."""
        before = self._last_length if self._last_end == onset else None
        self._last_end, self._last_length = onset + length, length
        running = self.running_rr
        premature: bool | None = None
        if before is not None and running is not None:
            premature = before < self.fraction * running
        if before is not None and not premature:
            self._normal_rr.append(before)
        return Rhythm(before, length, running, premature)

    @property
    def running_rr(self) -> float | None:
        """Median of the recent RR intervals of beats not premature (None: too few yet)."""
        if len(self._normal_rr) < self.min_running:
            return None
        return float(statistics.median(self._normal_rr))
