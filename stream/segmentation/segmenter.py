"""Per-patient online segmentation of continuous-mode frames into 140-sample beats.

The worker keeps one :class:`PatientSegmenter` per patient and feeds it frames in arrival
order. Frames are put back in ``frame_seq`` order by :class:`stream.segmentation.frames.FrameOrder`
(a bounded reorder buffer), appended to a sample buffer, and beat boundaries are chosen there by
the delayed-decision tracker of :mod:`stream.segmentation.tracker` (dynamic programming over
matched-filter and rhythm candidates, whole beats scored against the stretched TRAIN beat shapes
of :mod:`stream.segmentation.beatfit`; a boundary is final
:data:`stream.segmentation.tracker.DECISION_DELAY` beats behind the newest candidate). Once the
boundary after it is final, each boundary is moved (a few samples) to where the two beats around
it fit those shapes best, so a beat is emitted about 4.5 beats after its end. Without shipped
beat shapes the matched-filter peaks are used directly. Supported rates are
:data:`stream.segmentation.plans.SUPPORTED_RATES` (100-1000 Hz); above
:data:`stream.segmentation.plans.MAX_WORKING_RATE` the buffer holds block means of
``ceil(fs / 200)`` samples, so the per-rate beat shapes
(:class:`~stream.segmentation.plans.RatePlans`, shared and bounded) stay under 82 MiB and a
fifth of a second to build.
True onsets are never given to it. Every frame that is not used, and every stretch of signal
that ends in no beat, is reported as an :class:`~stream.segmentation.issues.Issue` with a
machine-readable :class:`~stream.segmentation.issues.Reason`, so the worker can dead-letter or
count it.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, resample_beat, znormalize
from stream.segmentation.config import SegmenterConfig
from stream.segmentation.fiducial import Fiducial, find_fiducials, load_fiducial
from stream.segmentation.frames import Break, Frame, FrameOrder, Resync, Run, Step, admit
from stream.segmentation.issues import Issue, Reason
from stream.segmentation.plans import RatePlan, shared_plans
from stream.segmentation.tracker import Tracker, beat_gain

FINAL_BEAT = (0.6, 1.6)
"""Lengths, in running beat lengths, at which :meth:`PatientSegmenter.finish` emits the last
beat (from the last onset to the end of the buffer); outside it, a ``partial_beat``."""


@dataclass(frozen=True)
class Beat:
    """A beat cut from the signal.

    Attributes:
        onset_sample: index of its first sample in the patient's signal.
        length: raw length before resampling, samples.
        samples: float32, shape ``(140,)``, resampled to 140 then z-normalized.
        interpolated: True when a boundary was inserted from the rhythm, not detected.
        fiducial_sample: the detected R peak (QRS segmenter), index in the signal.
        amplitude: peak-to-peak of the QRS complex in the signal's units (QRS segmenter:
            from the onset to 50 ms after the R peak); what normalization takes away.
    """

    onset_sample: int
    length: int
    samples: NDArray[np.float32]
    interpolated: bool = False
    fiducial_sample: int | None = None
    amplitude: float | None = None


@dataclass
class PushResult:
    """What one call produced: completed beats (in signal order) and issues."""

    beats: list[Beat] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


class FramedSegmenter:
    """Frame admission and frame order, shared by both segmenters; they cut the beats.

    A subclass sets ``config``, ``fs`` and ``_frames`` and provides :meth:`_buffered`,
    :meth:`_start_stream` and :meth:`_take`.
    """

    config: SegmenterConfig
    fs: float | None
    _frames: FrameOrder

    # What the signal watch (stream.segmentation.watch) reads; None where a segmenter does
    # not know (the template segmenter), so no pause is judged from it.
    @property
    def last_boundary(self) -> int | None:
        """The newest beat boundary (the open beat's onset), if known."""
        return None

    @property
    def detected_end(self) -> int | None:
        """The stream sample up to which beats were looked for, if known."""
        return None

    @property
    def stream_start(self) -> int | None:
        """Where the current stream began, if known."""
        return None

    def push(self, frame_seq: int, start_sample: int, fs: float, samples: NDArray) -> PushResult:
        """Feed one frame as it arrived; called by the worker for every frame message.

        Args:
            frame_seq: the frame's sequence number.
            start_sample: index of ``samples[0]`` in the patient's signal.
            fs: sampling rate, Hz.
            samples: shape ``(k,)``, the frame's samples.

        Returns:
            Beats completed by this frame and the issues it raised.
        """
        out = PushResult()
        values = np.asarray(samples, dtype=np.float64).ravel()
        frames = self._frames
        ok, issues = admit(self.config, frame_seq, fs, values,
                           self.fs if frames.started else None, self._buffered() + frames.held)
        out.issues += issues
        if not ok:
            return out
        if not frames.started or fs != self.fs or frames.reopens(frame_seq, start_sample):
            frames.start(frame_seq, start_sample)
            self._start_stream(start_sample, fs)
        if frames.follows(frame_seq, start_sample, values.size):
            self._take((Run(start_sample, values),), out)
        else:
            self._take(frames.push(Frame(frame_seq, start_sample, values), self._buffered()),
                       out)
        return out

    def _buffered(self) -> int:
        """Stream samples held that are not in a beat yet."""
        raise NotImplementedError

    def _start_stream(self, start: int, fs: float) -> None:
        """A new stream at ``fs`` from stream index ``start``."""
        raise NotImplementedError

    def _take(self, steps: Iterable[Step], out: PushResult) -> None:
        """Handle the frame order's steps, each before the next is taken."""
        raise NotImplementedError


class PatientSegmenter(FramedSegmenter):
    """Online segmenter of one patient's frames (ECG5000 templates); one per patient."""

    def __init__(self, config: SegmenterConfig | None = None, fiducial: Fiducial | None = None,
                 plans: Callable[[float], RatePlan] | None = None) -> None:
        self.config = config or SegmenterConfig()
        self.fiducial = fiducial or load_fiducial()
        self._plans = plans or shared_plans(self.fiducial).plan
        self.fs: float | None = None
        self.plan: RatePlan | None = None
        self._frames = FrameOrder(self.config.reorder_window, self.config.max_ahead)
        self._step = 1  # stream samples per working (buffer) sample
        self._tracker: Tracker | None = None
        # Buffer state, set by _restart_buffer.
        self._buf: NDArray[np.float64]
        self._buf_start: int  # working index of self._buf[0]
        self._carry: NDArray[np.float64]  # stream samples of an unfinished block
        self._fid: int | None
        self._onset: int | None
        self._onset_interpolated: bool
        self._next: tuple[int, bool] | None  # boundary waiting for its refinement
        self._intervals: deque[int]
        self._restart_buffer(0)

    def finish(self) -> PushResult:
        """End of stream (or an idle patient): use the held frames, then close the last beat.

        The last beat runs from the last onset to the end of the buffer; it is emitted when
        its length is within :data:`FINAL_BEAT` times the running beat length, otherwise it
        is reported as a ``partial_beat``. The segmenter stays usable: a later frame that
        continues the stream (next ``frame_seq``, ``start_sample`` at the buffer end) goes on
        from there, with the rhythm kept; any other later frame starts a new stream.
        """
        out = PushResult()
        if not self._frames.started:
            return out
        self._take(self._frames.finish(), out)
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
        self._onset, self._next = None, None
        if self._tracker is not None:
            self._tracker.reset(self._end, known=False)
        return out

    # Frame admission and the steps of the frame order.

    def _start_stream(self, start: int, fs: float) -> None:
        """Plan, tracker and an empty buffer for a new stream at ``fs`` from ``start``."""
        plan = self.plan = self._plans(fs)
        self.fs, self._step = fs, plan.step
        self._template, self._refractory = plan.template, plan.refractory
        self._nominal, self._fit, self._radius = plan.nominal, plan.fit, plan.radius
        self._tracker = (Tracker(self._fit, self._template, self.fiducial.height, self._nominal)
                         if self._fit is not None else None)
        self._restart_buffer(start)

    def _take(self, steps: Iterable[Step], out: PushResult) -> None:
        """Handle the frame order's steps, each before the next is taken."""
        for step in steps:
            if isinstance(step, Issue):
                out.issues.append(step)
            elif isinstance(step, Run):
                self._append(step.start, step.samples, out)
            elif isinstance(step, Break):
                self._reset(step.start, out, step.why)
            elif isinstance(step, Resync):
                self._start_stream(step.start, self.fs or self.fiducial.fs)

    # Sample buffer and beat cutting.

    def _restart_buffer(self, start: int) -> None:
        """Empty buffer from stream sample ``start`` (working sample ``ceil(start / step)``)."""
        self._buf = np.empty(0, dtype=np.float64)
        self._buf_start = -(-start // self._step)
        self._carry = np.empty(0, dtype=np.float64)
        self._fid = None
        self._onset = None
        self._onset_interpolated = False
        self._next = None
        self._intervals = deque(maxlen=8)
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
        held = self._frames.nbytes
        tracker = self._tracker.nbytes if self._tracker is not None else 0
        return self._buf.nbytes + self._carry.nbytes + held + tracker

    def _blocks(self, start: int, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Working samples for the stream samples ``values`` from ``start`` (after the buffer).

        Working sample ``j`` is the mean of stream samples ``[j * step, (j + 1) * step)``; an
        unfinished block is carried to the next frame, one cut by a restart is dropped.
        """
        if self._step == 1:
            return values
        step, joined = self._step, np.concatenate([self._carry, values])
        skip = -(start - self._carry.size) % step  # to the first block boundary
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

    def _append(self, start: int, values: NDArray[np.float64], out: PushResult) -> None:
        self._buf = np.concatenate([self._buf, self._blocks(start, values)])
        self._detect(out, final=False)
        if self._buf.size > self.config.max_buffer_samples:
            lost = self._buf.size * self._step
            out.issues.append(Issue(Reason.BUFFER_OVERFLOW, None, lost, "no boundary found"))
            # The frames are then expected at the working index _end (as before the split).
            self._frames.position = self._end
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
            elif self._fid is not None and not interpolated and boundary > self._fid:
                # A boundary repeated after a resync or a flush is no interval: a zero
                # would make the running beat length 0 (ZeroDivisionError in the tracker).
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
