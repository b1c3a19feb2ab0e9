"""Per-patient online segmentation of continuous-mode frames into 140-sample beats.

The worker keeps one :class:`PatientSegmenter` per patient and feeds it frames in arrival
order. Frames are put back in ``frame_seq`` order (a bounded reorder buffer), appended to a
sample buffer, and beat boundaries are chosen there by the delayed-decision tracker of
:mod:`stream.segmentation.tracker` (dynamic programming over matched-filter and rhythm candidates,
whole beats scored against the stretched TRAIN beat shapes of :mod:`stream.segmentation.beatfit`; a
boundary is final :data:`stream.segmentation.tracker.DECISION_DELAY` beats behind the newest
candidate). Once the boundary after it is final, each boundary is moved (a few samples) to where
the two beats around it fit those shapes best, so a beat is emitted about 4.5 beats after its end.
Without shipped beat shapes the matched-filter peaks are used directly.
Supported rates are :data:`SUPPORTED_RATES` (100-1000 Hz); above :data:`MAX_WORKING_RATE`
the buffer holds block means of ``ceil(fs / 200)`` samples, so the per-rate beat shapes
(:class:`RatePlans`, shared and bounded) stay under 82 MiB and a fifth of a second to build.
True onsets are never given to it. Every frame that is not used, and
every stretch of signal that ends in no beat, is reported as an :class:`Issue` with a
machine-readable :class:`Reason`, so the worker can dead-letter or count it.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, znormalize
from stream.segmentation.beatfit import BeatFit, fit_bounds, fit_nbytes, stretched
from stream.segmentation.fiducial import Fiducial, find_fiducials, load_fiducial, resample_beat
from stream.segmentation.tracker import Tracker, beat_gain

if TYPE_CHECKING:
    from stream.settings import Settings

SUPPORTED_RATES = (100.0, 1000.0)
"""Sampling rates (Hz) the segmenter supports; frames outside are refused (``bad_fs``)."""
MAX_WORKING_RATE = 200.0
"""Frames above this rate (Hz) are decimated by ``ceil(fs / MAX_WORKING_RATE)`` (block means)
before segmentation, so per-rate memory and time stay bounded: the beat-shape stacks of
:func:`stream.segmentation.beatfit.stretched` grow with the square of the rate (82 MiB at 200 Hz, 2
GiB at 1000 Hz undecimated)."""
RATES_CACHED = 3
"""Default number of per-rate beat-shape stacks a :class:`RatePlans` keeps (LRU)."""
FINAL_BEAT = (0.6, 1.6)
"""Lengths, in running beat lengths, at which :meth:`PatientSegmenter.finish` emits the last
beat (from the last onset to the end of the buffer); outside it, a ``partial_beat``."""


class Reason(StrEnum):
    """Why a frame or a stretch of signal did not become (only) beats."""

    DUPLICATE = "duplicate"  # frame_seq already consumed or already held
    LATE = "late"  # arrived after its gap was declared: dropped
    REORDERED = "reordered"  # ahead of a missing frame: held (informational, nothing lost)
    GAP = "gap"  # missing frames given up after reorder_window held frames
    FAR_FUTURE = "far_future"  # frame_seq too far ahead of the expected one: dropped
    RESYNC = "resync"  # several far-future frames in a row: stream restarted there
    START_MISMATCH = "start_mismatch"  # start_sample disagrees with the frames before it
    BAD_FS = "bad_fs"  # sampling rate not finite or out of range: frame dropped
    FS_CHANGED = "fs_changed"  # sampling rate changed: buffer restarted at the new rate
    BAD_SAMPLES = "bad_samples"  # empty or non-finite samples: frame dropped
    BUFFER_OVERFLOW = "buffer_overflow"  # no boundary within max_buffer_samples: reset
    PARTIAL_BEAT = "partial_beat"  # samples before the first / after the last boundary


@dataclass(frozen=True)
class Issue:
    """One irregularity; ``samples_lost`` counts signal samples that became no beat."""

    reason: Reason
    frame_seq: int | None = None
    samples_lost: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Beat:
    """A beat cut from the signal.

    Attributes:
        onset_sample: index of its first sample in the patient's signal.
        length: raw length before resampling, samples.
        samples: float32, shape ``(140,)``, resampled to 140 then z-normalized.
        interpolated: True when a boundary was inserted from the rhythm, not detected.
    """

    onset_sample: int
    length: int
    samples: NDArray[np.float32]
    interpolated: bool = False


@dataclass
class PushResult:
    """What one call produced: completed beats (in signal order) and issues."""

    beats: list[Beat] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class SegmenterConfig:
    """Limits of one patient's segmenter.

    Attributes:
        max_buffer_samples: a buffer growing past this without a boundary is reset.
        reorder_window: frames held waiting for a missing one before a gap is declared.
        max_sampling_rate: frames claiming more (Hz) are dropped (within
            :data:`SUPPORTED_RATES`).
        min_sampling_rate: frames claiming less (Hz) are dropped.
        max_ahead: frames more than this many past the expected seq are far-future.
    """

    max_buffer_samples: int = 8_192
    reorder_window: int = 8
    max_sampling_rate: float = SUPPORTED_RATES[1]
    min_sampling_rate: float = SUPPORTED_RATES[0]
    max_ahead: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmenterConfig:
        """The limits named in the project settings."""
        return cls(
            max_buffer_samples=settings.max_buffer_samples,
            reorder_window=settings.reorder_window,
            max_sampling_rate=settings.max_sampling_rate,
            min_sampling_rate=settings.min_sampling_rate,
            max_ahead=max(64, 4 * (settings.reorder_window + 1)),
        )


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
def _shared_plans(fiducial: Fiducial) -> RatePlans:
    """The plans of segmenters made without any (one set per fiducial)."""
    return RatePlans(fiducial)


@dataclass
class _Frame:
    seq: int
    start: int
    samples: NDArray[np.float64]


class PatientSegmenter:
    """Online segmenter of one patient's frames; not thread-safe, one per patient."""

    def __init__(self, config: SegmenterConfig | None = None, fiducial: Fiducial | None = None,
                 plans: Callable[[float], RatePlan] | None = None) -> None:
        self.config = config or SegmenterConfig()
        self.fiducial = fiducial or load_fiducial()
        self._plans = plans or _shared_plans(self.fiducial).plan
        self.fs: float | None = None
        self.plan: RatePlan | None = None
        self._step = 1  # stream samples per working (buffer) sample
        self._carry = np.empty(0, dtype=np.float64)  # stream samples of an unfinished block
        self._stream_end = 0  # stream index of the next sample expected
        self._expected: int | None = None  # next frame_seq to consume
        self._pending: dict[int, _Frame] = {}
        self._gaps: deque[tuple[int, int]] = deque(maxlen=16)
        self._far_run = 0
        self._closed = False  # finish() was called and no frame came since
        self._tracker: Tracker | None = None
        self._restart_buffer(0)

    def push(self, frame_seq: int, start_sample: int, fs: float, samples: NDArray) -> PushResult:
        """Feed one frame as it arrived; called by the worker for every frame message.

        Args:
            frame_seq: the frame's sequence number.
            start_sample: index of ``samples[0]`` in the patient's signal.
            fs: sampling rate, Hz.
            samples: shape ``(k,)``, the frame's samples (z-normalized units).

        Returns:
            Beats completed by this frame and the issues it raised.
        """
        out = PushResult()
        values = np.asarray(samples, dtype=np.float64).ravel()
        if not self._admit(frame_seq, fs, values, out):
            return out
        if self._expected is None or fs != self.fs or self._reopens(frame_seq, start_sample):
            self._start_stream(frame_seq, start_sample, fs, out)
        self._closed = False
        self._route(_Frame(frame_seq, start_sample, values), out)
        return out

    def finish(self) -> PushResult:
        """End of stream (or an idle patient): use the held frames, then close the last beat.

        The last beat runs from the last onset to the end of the buffer; it is emitted when
        its length is within :data:`FINAL_BEAT` times the running beat length, otherwise it
        is reported as a ``partial_beat``. The segmenter stays usable: a later frame that
        continues the stream (next ``frame_seq``, ``start_sample`` at the buffer end) goes on
        from there, with the rhythm kept; any other later frame starts a new stream.
        """
        out = PushResult()
        if self._expected is None:
            return out
        while self._pending:
            self._declare_gap(out)
        self._detect(out, final=True)
        self._settle_next(self._end if self._plausible_tail() else None, out)
        tail = self._end - self._onset if self._onset is not None else self._buf.size
        lo, hi = (factor * self._beat_length() for factor in FINAL_BEAT)
        if self._onset is not None and lo <= tail <= hi:
            self._emit(self._onset, self._end, self._onset_interpolated, out)
        elif tail > 0:
            lost = int(tail) * self._step
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, lost, "end of stream"))
        self._buf_start, self._buf = self._end, np.empty(0, dtype=np.float64)
        self._onset, self._next, self._closed = None, None, True
        if self._tracker is not None:
            self._tracker.reset(self._end, known=False)
        return out

    # Frame admission and ordering.

    def _reopens(self, seq: int, start: int) -> bool:
        """After :meth:`finish`: a new frame that does not continue the stream restarts it."""
        return self._closed and seq >= (self._expected or 0) and (
            seq != self._expected or start != self._stream_end)

    def _admit(self, seq: int, fs: float, values: NDArray, out: PushResult) -> bool:
        cfg = self.config
        if not (math.isfinite(fs) and cfg.min_sampling_rate <= fs <= cfg.max_sampling_rate):
            out.issues.append(Issue(Reason.BAD_FS, seq, values.size, f"fs={fs}"))
            return False
        if values.size == 0 or not np.isfinite(values).all():
            out.issues.append(Issue(Reason.BAD_SAMPLES, seq, values.size, "empty or non-finite"))
            return False
        if self._expected is not None and self.fs is not None and fs != self.fs:
            lost = self._buffered() + sum(f.samples.size for f in self._pending.values())
            out.issues.append(Issue(Reason.FS_CHANGED, seq, lost, f"{self.fs} -> {fs} Hz"))
        return True

    def _start_stream(self, seq: int, start: int, fs: float, out: PushResult) -> None:
        plan = self.plan = self._plans(fs)
        self.fs, self._step = fs, plan.step
        self._template, self._refractory = plan.template, plan.refractory
        self._nominal, self._fit, self._radius = plan.nominal, plan.fit, plan.radius
        self._tracker = (Tracker(self._fit, self._template, self.fiducial.height, self._nominal)
                         if self._fit is not None else None)
        self._expected = seq
        self._pending.clear()
        self._restart_buffer(start)

    def _route(self, frame: _Frame, out: PushResult) -> None:
        seq, expected = frame.seq, self._expected if self._expected is not None else frame.seq
        if seq < expected or seq in self._pending:
            late = any(lo <= seq <= hi for lo, hi in self._gaps)
            reason = Reason.LATE if late else Reason.DUPLICATE
            out.issues.append(Issue(reason, seq, frame.samples.size if late else 0))
            return
        if seq > expected + self.config.max_ahead:
            self._far_future(frame, out)
            return
        self._far_run = 0
        self._pending[seq] = frame
        if seq > expected:
            out.issues.append(Issue(Reason.REORDERED, seq, 0, f"waiting for {expected}"))
        self._drain(out)
        while len(self._pending) > self.config.reorder_window:
            self._declare_gap(out)

    def _far_future(self, frame: _Frame, out: PushResult) -> None:
        self._far_run += 1
        if self._far_run <= self.config.reorder_window:
            detail = f"expected {self._expected}"
            out.issues.append(Issue(Reason.FAR_FUTURE, frame.seq, frame.samples.size, detail))
            return
        lost = self._buffered() + sum(f.samples.size for f in self._pending.values())
        out.issues.append(Issue(Reason.RESYNC, frame.seq, lost, f"expected {self._expected}"))
        self._far_run = 0
        self._gaps.append((self._expected or 0, frame.seq - 1))
        self._start_stream(frame.seq, frame.start, self.fs or self.fiducial.fs, out)
        self._route(frame, out)

    def _drain(self, out: PushResult) -> None:
        while self._expected in self._pending:
            frame = self._pending.pop(self._expected)
            self._expected += 1
            if frame.start != self._stream_end:
                detail = f"start_sample {frame.start}, expected {self._stream_end}"
                out.issues.append(Issue(Reason.START_MISMATCH, frame.seq, 0, detail))
                self._reset(frame.start, out, "start mismatch")
            self._append(frame.samples, out)

    def _declare_gap(self, out: PushResult) -> None:
        first = min(self._pending)
        lo, hi = self._expected or 0, first - 1
        self._gaps.append((lo, hi))
        lost = max(0, self._pending[first].start - self._stream_end)
        out.issues.append(Issue(Reason.GAP, lo, lost, f"frames {lo}..{hi} missing"))
        self._reset(self._pending[first].start, out, "gap")
        self._expected = first
        self._drain(out)

    # Sample buffer and beat cutting.

    def _restart_buffer(self, start: int) -> None:
        """Empty buffer from stream sample ``start`` (working sample ``ceil(start / step)``)."""
        self._buf = np.empty(0, dtype=np.float64)
        self._buf_start = -(-start // self._step)
        self._stream_end, self._carry = start, np.empty(0, dtype=np.float64)
        self._fid: int | None = None
        self._onset: int | None = None
        self._onset_interpolated = False
        self._next: tuple[int, bool] | None = None  # boundary waiting for its refinement
        self._intervals: deque[int] = deque(maxlen=8)
        if self._tracker is not None:
            self._tracker.reset(start, known=False)

    @property
    def _end(self) -> int:
        """Working index one past the buffer."""
        return self._buf_start + self._buf.size

    def _buffered(self) -> int:
        """Stream samples held in the buffer."""
        return self._buf.size * self._step + self._carry.size

    @property
    def nbytes(self) -> int:
        """Approximate bytes of this segmenter's sample and tracker state."""
        held = sum(f.samples.nbytes for f in self._pending.values())
        tracker = self._tracker.nbytes if self._tracker is not None else 0
        return self._buf.nbytes + self._carry.nbytes + held + tracker

    def _blocks(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Working samples for the stream samples ``values`` (next after the buffer).

        Working sample ``j`` is the mean of stream samples ``[j * step, (j + 1) * step)``; an
        unfinished block is carried to the next frame, one cut by a restart is dropped.
        """
        self._stream_end += values.size
        if self._step == 1:
            return values
        step, joined = self._step, np.concatenate([self._carry, values])
        skip = -(self._stream_end - joined.size) % step  # to the first block boundary
        usable = joined[skip:]
        whole = usable.size // step * step
        self._carry = usable[whole:].copy()
        return usable[:whole].reshape(-1, step).mean(axis=1)

    def _reset(self, new_start: int, out: PushResult, why: str) -> None:
        self._settle_next(None, out)
        kept = self._end - (self._onset if self._onset is not None else self._buf_start)
        if kept > 0:
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, int(kept) * self._step, why))
        self._restart_buffer(new_start)

    def _append(self, values: NDArray[np.float64], out: PushResult) -> None:
        self._buf = np.concatenate([self._buf, self._blocks(values)])
        self._detect(out, final=False)
        if self._buf.size > self.config.max_buffer_samples:
            lost = self._buf.size * self._step
            out.issues.append(Issue(Reason.BUFFER_OVERFLOW, None, lost, "no boundary found"))
            self._restart_buffer(self._end)

    def _beat_length(self) -> float:
        """Median of the last intervals (nominal before any); plain Python, it is hot."""
        if not self._intervals:
            return self._nominal
        values, half = sorted(self._intervals), len(self._intervals) // 2
        return float(values[half]) if len(values) % 2 else (values[half - 1] + values[half]) / 2

    def _max_interval(self) -> float:
        return self.fiducial.fill * self._beat_length()

    def _detect(self, out: PushResult, final: bool) -> None:
        if self._tracker is not None:
            self._track(self._tracker, out, final)
        else:
            self._greedy(out, final)
        keep = (self._onset if self._onset is not None else self._end) - self._buf_start
        if keep > 0 and self._onset is not None:
            self._buf = self._buf[keep:]
            self._buf_start += keep

    def _track(self, tracker: Tracker, out: PushResult, final: bool) -> None:
        """Boundaries decided by the delayed-decision tracker (:mod:`.tracker`)."""
        decided = tracker.advance(self._buf, self._buf_start, self._beat_length(), final)
        for boundary, interpolated, lost in decided:
            if lost:
                self._lose_until(out)
            elif self._fid is not None and not interpolated:
                self._intervals.append(boundary - self._fid)
            self._place(boundary, interpolated, out)

    def _lose_until(self, out: PushResult) -> None:
        """No beats after the last boundary: emit the beat before it, start again after.

        The tracker found no chain of plausible beats to its next boundary; the samples
        between become a ``partial_beat`` when that boundary is placed.
        """
        self._settle_next(None, out)
        if self._onset is not None:
            keep = self._onset - self._buf_start
            self._buf, self._buf_start = self._buf[keep:], self._onset
        self._onset, self._next = None, None

    def _greedy(self, out: PushResult, final: bool) -> None:
        """Boundaries from matched-filter peaks alone (no beat templates shipped)."""
        peaks = find_fiducials(self._buf, self._template, self.fiducial.height, self._refractory)
        horizon = 0 if final else self._refractory
        limit = self._buf.size - self._template.size - horizon
        for peak in peaks[peaks <= limit] + self._buf_start:
            if self._fid is None or peak >= self._fid + self._refractory:
                self._accept(int(peak), out)

    def _accept(self, fid: int, out: PushResult) -> None:
        previous = self._fid
        if previous is not None and fid - previous > self._max_interval():
            count = round((fid - previous) / self._beat_length())
            for index in range(1, count):
                self._place(round(previous + (fid - previous) * index / count), True, out)
        elif previous is not None:
            self._intervals.append(fid - previous)
        self._place(fid, False, out)

    def _place(self, fid: int, interpolated: bool, out: PushResult) -> None:
        onset = max(self._buf_start, fid - round(self.fiducial.offset * self._beat_length()))
        self._fid = fid
        if self._onset is None:
            if onset > self._buf_start:
                lead = (onset - self._buf_start) * self._step
                out.issues.append(Issue(Reason.PARTIAL_BEAT, None, lead, "before first boundary"))
            self._onset, self._onset_interpolated = onset, interpolated
            return
        self._settle_next(onset, out)
        self._next = (onset, interpolated)

    def _plausible_tail(self) -> bool:
        """Whether the waiting boundary to the buffer end spans a plausible last beat."""
        if self._next is None:
            return False
        lo, hi = (factor * self._beat_length() for factor in FINAL_BEAT)
        return lo <= self._end - self._next[0] <= hi

    def _settle_next(self, after: int | None, out: PushResult) -> None:
        """Refine the waiting boundary between the last onset and ``after``, emit the beat.

        ``after`` is the boundary after it, or None when there is no full beat after it (a
        reset, or an implausible tail at the end): the boundary is then kept as detected.
        """
        if self._next is None or self._onset is None:
            return
        onset, interpolated = self._next
        if self._fit is not None and after is not None:
            start = self._buf_start
            radius = self._radius[1 if interpolated else 0]
            gain = functools.partial(beat_gain, length=self._beat_length())
            onset = start + self._fit.refine(self._buf, self._onset - start, onset - start,
                                             after - start, radius, gain)
        self._emit(self._onset, onset, interpolated or self._onset_interpolated, out)
        self._onset, self._onset_interpolated, self._next = onset, interpolated, None

    def _emit(self, onset: int, end: int, interpolated: bool, out: PushResult) -> None:
        raw = self._buf[onset - self._buf_start : end - self._buf_start]
        step = self._step
        if raw.size < 2:
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, int(raw.size) * step, "too short"))
            return
        beat = znormalize(resample_beat(raw, BEAT_LENGTH))
        out.beats.append(Beat(onset * step, int(raw.size) * step, beat, interpolated))
