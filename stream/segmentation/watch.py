"""What a patient's signal shows besides beats: a pause, a lead off (pure, continuous mode).

A :class:`SignalWatch` per patient is fed each frame's samples and what the segmenter found
in them, and returns :class:`Observation` s, each the ``start`` or ``end`` of a condition:

- **pause** (clinical): no beat boundary for ``pause_s`` (asystole, 4 s) while frames keep
  arriving. The QRS detector decides a peak up to a block and a T-wave window after it, so
  a pause is declared once the detector has seen ``pause_s`` + :data:`PAUSE_MARGIN_S` past
  the last boundary without a new one; it ends at the next boundary. No pause is declared
  before the first boundary of a stream (the detector is still learning its levels), while
  the lead is off, or across a break of the signal (a gap or a restart of the stream:
  frames missing are not asystole).
- **lead_off** (technical): a flat signal, the peak-to-peak of the last ``lead_off_s`` at
  most :data:`FLAT_FRACTION` of the patient's recent QRS amplitude (exactly constant before
  any beat), or a saturated one, one value held for :data:`STUCK_S` (a rail, a dropout). It
  ends when the last ``lead_off_s`` is neither; the pause clock then starts again.

Frames that stop arriving (signal lost) are judged by the worker's pool on its timer, not
here. Memory is bounded: the signal's extremes are kept per chunk of :data:`CHUNK_S`.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

PAUSE_MARGIN_S = 1.0
"""Signal the detector must see past ``pause_s`` before a pause is declared (its lag)."""
FLAT_FRACTION = 0.01
"""A stretch whose peak-to-peak is at most this fraction of the recent QRS amplitude is flat."""
STUCK_S = 0.5
"""One sample value held this long is a saturated (or dropped-out) signal."""
CHUNK_S = 0.25
"""Extremes of the signal are kept per chunk of this many seconds."""
AMPLITUDES_KEPT = 8
"""QRS amplitudes of the last beats whose median is the patient's reference amplitude."""


@dataclass(frozen=True)
class WatchRules:
    """How long each condition must last (seconds)."""

    pause_s: float = 4.0
    lead_off_s: float = 2.0


@dataclass(frozen=True)
class Observation:
    """The start or end of a condition, in samples of the patient's signal."""

    kind: Literal["pause", "lead_off"]
    phase: Literal["start", "end"]
    since_sample: int
    at_sample: int
    fs: float
    detail: str = ""

    @property
    def duration_s(self) -> float:
        """How long the condition has lasted when observed."""
        return (self.at_sample - self.since_sample) / self.fs


@dataclass(frozen=True)
class BeatMark:
    """What the watch needs of a beat: where it begins and ends, its QRS amplitude."""

    onset: int
    end: int
    amplitude: float | None = None


class SignalWatch:
    """One patient's pause and lead-off state; not thread-safe."""

    def __init__(self, rules: WatchRules | None = None) -> None:
        self.rules = rules or WatchRules()
        self.fs: float | None = None
        self._stream: int | None = None  # the segmenter's stream start: a change is a break
        self._end: int | None = None  # end of the newest frame in order
        self._boundary: int | None = None  # newest beat boundary (or lead-on) of this stream
        self._pause: int | None = None  # boundary the current pause began at
        self._lead: int | None = None  # first flat or stuck sample of the current lead off
        self._chunks: deque[tuple[int, int, float, float]] = deque()  # start, end, lo, hi
        self._run_value = float("nan")
        self._run = 0  # samples the newest value has been held
        self._amplitudes: deque[float] = deque(maxlen=AMPLITUDES_KEPT)

    @property
    def lead_off(self) -> bool:
        """Whether the lead is off now."""
        return self._lead is not None

    @property
    def in_pause(self) -> bool:
        """Whether a pause is going on now."""
        return self._pause is not None

    def observe(self, start: int, samples: NDArray[np.float64], fs: float,
                beats: Iterable[BeatMark], boundary: int | None, detected_end: int | None,
                stream: int | None) -> list[Observation]:
        """Take one frame and what the segmenter made of it; the conditions that changed.

        Args:
            start: the frame's first sample index.
            samples: the frame's samples.
            fs: its sampling rate, Hz.
            beats: the beats the segmenter cut after this frame.
            boundary: the segmenter's newest boundary (the open beat's onset), if any.
            detected_end: the sample up to which the detector has looked.
            stream: where the segmenter's current stream began (a change is a break).
        """
        out: list[Observation] = []
        if fs != self.fs or stream != self._stream:
            out += self._break(fs, stream)
        marks = [(b.onset, b.end) for b in beats]
        for b in beats:
            if b.amplitude is not None and b.amplitude > 0:
                self._amplitudes.append(b.amplitude)
        newest = max([e for _, e in marks] + ([boundary] if boundary is not None else []),
                     default=None)
        if newest is not None and (self._boundary is None or newest > self._boundary):
            self._boundary = newest
            if self._pause is not None and newest > self._pause:
                out.append(self._observe("pause", "end", self._pause, newest))
                self._pause = None
        if self._end is None or start >= self._end:  # frames in order; a reordered one is old
            out += self._lead_state(start, samples)
        if detected_end is not None:
            out += self._pause_state(detected_end)
        return out

    def _break(self, fs: float, stream: int | None) -> list[Observation]:
        """A new stream or rate: conditions end where the old stream did, state starts anew."""
        out = []
        at = self._end if self._end is not None else 0
        if self._pause is not None:
            out.append(self._observe("pause", "end", self._pause, max(at, self._pause),
                                     "signal break"))
        if self._lead is not None:
            out.append(self._observe("lead_off", "end", self._lead, max(at, self._lead),
                                     "signal break"))
        self.fs, self._stream = fs, stream
        self._end = self._boundary = self._pause = self._lead = None
        self._chunks.clear()
        self._run, self._run_value = 0, float("nan")
        return out

    def _lead_state(self, start: int, samples: NDArray[np.float64]) -> list[Observation]:
        if samples.size == 0 or self.fs is None:
            return []
        fs, end = self.fs, start + samples.size
        contiguous = self._end == start
        self._end = end
        self._add_chunk(start, end, float(samples.min()), float(samples.max()), contiguous)
        changes = np.flatnonzero(samples != samples[-1])
        trailing = samples.size - (int(changes[-1]) + 1 if changes.size else 0)
        held = contiguous and not changes.size and samples[-1] == self._run_value
        self._run = self._run + trailing if held else trailing
        self._run_value = float(samples[-1])
        stuck = self._run >= STUCK_S * fs
        flat_since = self._flat_since(end)
        off = stuck or flat_since is not None
        if off and self._lead is None:
            stuck_since = end - self._run
            lead = (stuck_since if flat_since is None
                    else min(stuck_since, flat_since) if stuck else flat_since)
            self._lead = lead
            detail = "saturated: one value held" if stuck else "flat signal"
            obs = []
            if self._pause is not None:
                obs.append(self._observe("pause", "end", self._pause, max(lead, self._pause),
                                         "lead off"))
                self._pause = None
            return [*obs, self._observe("lead_off", "start", lead, end, detail)]
        if not off and self._lead is not None:
            since, self._lead = self._lead, None
            self._boundary = end  # the pause clock starts again with the signal
            return [self._observe("lead_off", "end", since, end)]
        return []

    def _add_chunk(self, start: int, end: int, lo: float, hi: float, contiguous: bool) -> None:
        """Fold the frame's extremes into the newest chunk, or start a chunk."""
        span = max(1, round(CHUNK_S * (self.fs or 1.0)))
        if not contiguous:
            self._chunks.clear()
        if self._chunks and self._chunks[-1][1] - self._chunks[-1][0] < span:
            c_start, _, c_lo, c_hi = self._chunks[-1]
            self._chunks[-1] = (c_start, end, min(c_lo, lo), max(c_hi, hi))
        else:
            self._chunks.append((start, end, lo, hi))
        window = round(self.rules.lead_off_s * (self.fs or 1.0))
        while len(self._chunks) > 1 and self._chunks[1][0] <= end - window:
            self._chunks.popleft()  # the next chunk alone still covers the window

    def _flat_since(self, end: int) -> int | None:
        """Where the flat stretch covering the last ``lead_off_s`` began, if there is one."""
        window = round(self.rules.lead_off_s * (self.fs or 1.0))
        if not self._chunks or self._chunks[0][0] > end - window:
            return None  # not that much signal yet
        spread = max(c[3] for c in self._chunks) - min(c[2] for c in self._chunks)
        reference = statistics.median(self._amplitudes) if self._amplitudes else 0.0
        if spread > FLAT_FRACTION * reference or (reference == 0.0 and spread > 0.0):
            return None
        return self._chunks[0][0]

    def _pause_state(self, detected_end: int) -> list[Observation]:
        if self._boundary is None or self._pause is not None or self._lead is not None:
            return []
        fs = self.fs or 1.0
        if detected_end - self._boundary < (self.rules.pause_s + PAUSE_MARGIN_S) * fs:
            return []
        self._pause = self._boundary
        return [self._observe("pause", "start", self._pause, detected_end)]

    def _observe(self, kind: Literal["pause", "lead_off"], phase: Literal["start", "end"],
                 since: int, at: int, detail: str = "") -> Observation:
        return Observation(kind, phase, since, at, self.fs or 1.0, detail)
