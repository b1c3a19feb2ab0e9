"""Per-patient online segmentation of a real ECG: beats cut around detected R peaks.

Frames are put back in ``frame_seq`` order by :class:`stream.segmentation.frames.FrameOrder`,
their samples go through the online QRS detector of :mod:`stream.segmentation.qrs`, and each
beat runs from one boundary to the next, a boundary being an R peak moved by the learned
:class:`~stream.segmentation.cut.CutConvention` (where ECG5000 beats start relative to their
dominant QRS deflection). Each beat is resampled to 140 samples, turned to the convention's
polarity (ECG5000's dominant deflection is negative, so an upright or inverted lead gives the
same beat) and z-normalized. A beat is emitted once the R peak after it is decided, so the
delay is one beat plus the detector's (:data:`stream.segmentation.qrs.REFRACTORY_S`, more
after a search-back), plus up to a block: the detector takes the frames gathered into blocks
of at least ``SegmenterConfig.detect_block_s`` of signal (its cost is mostly per call).

A beat longer than :data:`MAX_BEAT_S` (a pause, or the detector lost) is not a beat: its
samples are reported as a ``partial_beat`` and the next beat starts at the next R peak.
Every frame or stretch of signal not used is an :class:`~stream.segmentation.issues.Issue`.
The scale of the samples does not matter (the detector is scale-free, beats z-normalized).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, resample_beat, znormalize
from stream.segmentation.config import SegmenterConfig
from stream.segmentation.cut import CutConvention, load_cut
from stream.segmentation.frames import Break, FrameOrder, Resync, Run, Step
from stream.segmentation.issues import Issue, Reason
from stream.segmentation.qrs import QrsDetector
from stream.segmentation.segmenter import FINAL_BEAT, Beat, FramedSegmenter, PushResult

MAX_BEAT_S = 3.0
"""Longest beat, seconds (20 bpm); a longer interval between boundaries is no beat."""
QRS_AFTER_S = 0.05
"""A beat's QRS amplitude is measured from its onset to this long after its R peak."""


@dataclass
class _Open:
    """The beat waiting for its end: onset and fiducial, stream samples."""

    onset: int
    fiducial: int


class QrsSegmenter(FramedSegmenter):
    """Online segmenter of one patient's real ECG; not thread-safe, one per patient."""

    plan = None  # no per-rate shared state to release (the pool asks)

    def __init__(self, config: SegmenterConfig | None = None,
                 cut: CutConvention | None = None) -> None:
        self.config = config or SegmenterConfig()
        self.cut = cut or load_cut()
        self.fs: float | None = None
        self._frames = FrameOrder(self.config.reorder_window, self.config.max_ahead)
        self._detector: QrsDetector | None = None
        self._block: list[NDArray[np.float64]] = []  # samples not given to the detector yet
        self._block_size = 0
        self._block_min = 0
        self._buf = np.empty(0, dtype=np.float64)
        self._buf_start = 0  # stream index of self._buf[0]
        self._open: _Open | None = None
        self._offset = 0  # boundary - R peak, samples at self.fs
        self._max_beat = 0
        self._qrs_after = 0
        self._intervals: deque[int] = deque(maxlen=8)

    @property
    def last_boundary(self) -> int | None:
        """The newest boundary: the onset of the beat waiting for its end (None: none open)."""
        return self._open.onset if self._open is not None else None

    @property
    def detected_end(self) -> int | None:
        """The stream sample up to which the detector has looked (None: not started)."""
        return self._detector.end if self._detector is not None else None

    @property
    def stream_start(self) -> int | None:
        """Where the current stream began (a gap, a resync or a new rate starts another)."""
        return self._detector.start if self._detector is not None else None

    @property
    def nbytes(self) -> int:
        """Approximate bytes of this segmenter's sample, detector and frame state."""
        detector = self._detector.nbytes if self._detector is not None else 0
        return self._buf.nbytes + self._frames.nbytes + detector  # the block is in the buffer

    @property
    def search_backs(self) -> int:
        """Beats the current detector found by search-back."""
        return self._detector.search_backs if self._detector is not None else 0

    def finish(self) -> PushResult:
        """End of stream (or an idle patient): decide the last R peaks, close the last beat.

        The last beat runs from its onset to the end of the signal; it is emitted when its
        length is within :data:`~stream.segmentation.segmenter.FINAL_BEAT` running beat
        lengths, otherwise reported as a ``partial_beat``. A later frame that continues the
        stream goes on from there (the detector keeps its levels); any other starts anew.
        """
        out = PushResult()
        if not self._frames.started or self._detector is None:
            return out
        self._take(self._frames.finish(), out)
        if self._detector is None:
            return out
        self._detect(out)
        self._boundaries(self._detector.finish(), out)
        end = self._end
        if self._open is not None:
            tail = end - self._open.onset
            lo, hi = (factor * self._beat_length() for factor in FINAL_BEAT)
            if lo <= tail <= hi:
                self._emit(end, out)
            else:
                self._lose(end, "end of stream", out)
        elif end > self._buf_start:
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, end - self._buf_start,
                                    "end of stream"))
        self._open = None
        self._buf, self._buf_start = self._buf[:0], end
        return out

    # Frame admission and the steps of the frame order.

    def _start_stream(self, start: int, fs: float) -> None:
        """A new stream at ``fs`` from stream index ``start``: new detector, empty buffer."""
        self.fs = fs
        self._offset = round(self.cut.offset_s * fs)
        self._max_beat = round(MAX_BEAT_S * fs)
        self._qrs_after = round(QRS_AFTER_S * fs)
        self._block_min = round(self.config.detect_block_s * fs)
        self._restart(start)

    def _restart(self, start: int) -> None:
        self._detector = QrsDetector(self.fs or 0.0, start)
        self._block, self._block_size = [], 0
        self._buf, self._buf_start = np.empty(0, dtype=np.float64), start
        self._open = None
        self._intervals.clear()

    def _take(self, steps: Iterable[Step], out: PushResult) -> None:
        """Handle the frame order's steps, each before the next is taken."""
        for step in steps:
            if isinstance(step, Issue):
                out.issues.append(step)
            elif isinstance(step, Run):
                self._append(step.samples, out)
            elif isinstance(step, Break):
                self._break(step.start, step.why, out)
            elif isinstance(step, Resync):
                self._restart(step.start)

    # Samples, boundaries and beats.

    @property
    def _end(self) -> int:
        return self._buf_start + self._buf.size

    def _buffered(self) -> int:
        """Samples held that are not in a beat yet."""
        return self._buf.size

    def _beat_length(self) -> float:
        if not self._intervals:
            return 0.8 * (self.fs or 0.0)
        return float(statistics.median(self._intervals))

    def _append(self, values: NDArray[np.float64], out: PushResult) -> None:
        if self._detector is None:  # not started: push() starts a stream before any run
            return
        self._buf = np.concatenate([self._buf, values])
        self._block.append(values)
        self._block_size += values.size
        if self._block_size >= self._block_min:
            self._detect(out)

    def _detect(self, out: PushResult) -> None:
        """Give the gathered block to the detector; cut the beats its R peaks close."""
        if self._detector is None or not self._block:
            return
        block = self._block[0] if len(self._block) == 1 else np.concatenate(self._block)
        self._block, self._block_size = [], 0
        self._boundaries(self._detector.push(block), out)
        self._bound(out)

    def _boundaries(self, peaks: list[int], out: PushResult) -> None:
        for peak in peaks:
            onset = max(peak + self._offset, self._buf_start)
            if self._open is None:
                if onset > self._buf_start:
                    self._drop_until(onset, "before first boundary", out)
                self._open = _Open(onset, peak)
                continue
            if onset <= self._open.onset:
                continue  # a boundary repeated (after a finish): no interval
            if onset - self._open.onset > self._max_beat:
                self._lose(onset, "no beat for MAX_BEAT_S", out)
            else:
                self._intervals.append(onset - self._open.onset)
                self._emit(onset, out)
            self._open = _Open(onset, peak)

    def _bound(self, out: PushResult) -> None:
        """No boundary for a whole beat's worth: the open beat is no beat (a pause)."""
        limit = min(self._max_beat, self.config.max_buffer_samples)
        seen = self._detector.end if self._detector is not None else self._end
        if self._open is not None and seen - self._open.onset > limit:
            self._lose(seen - self._offset_room(), "no beat for MAX_BEAT_S", out)
            self._open = None
        elif self._open is None and seen - self._buf_start > limit:
            self._drop_until(seen - self._offset_room(), "no boundary found", out)

    def _offset_room(self) -> int:
        """Samples kept before the buffer end: a boundary may fall that far before its peak."""
        return max(0, -self._offset) + round(0.5 * (self.fs or 0.0))

    def _drop_until(self, stop: int, why: str, out: PushResult) -> None:
        stop = min(max(stop, self._buf_start), self._end)
        if stop > self._buf_start:
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, stop - self._buf_start, why))
            self._buf = self._buf[stop - self._buf_start :]
            self._buf_start = stop

    def _lose(self, stop: int, why: str, out: PushResult) -> None:
        """The open beat ends at ``stop`` without being a beat: its samples are lost."""
        self._drop_until(stop, why, out)

    def _emit(self, end: int, out: PushResult) -> None:
        if self._open is None:
            return
        start = self._open.onset
        raw = self._buf[start - self._buf_start : end - self._buf_start]
        self._buf = self._buf[end - self._buf_start :]
        self._buf_start = end
        if raw.size < 2:
            out.issues.append(Issue(Reason.PARTIAL_BEAT, None, int(raw.size), "too short"))
            return
        beat = znormalize(resample_beat(raw, BEAT_LENGTH))
        if self._sign() < 0:
            np.negative(beat, out=beat)
        qrs = raw[: self._open.fiducial - start + self._qrs_after]
        amplitude = float(qrs.max() - qrs.min()) if qrs.size else None
        out.beats.append(Beat(start, int(raw.size), beat, fiducial_sample=self._open.fiducial,
                              amplitude=amplitude))

    def _sign(self) -> float:
        """Flip that puts the patient's dominant QRS deflection in the convention's polarity."""
        polarity = self._detector.polarity if self._detector is not None else 0
        if polarity == 0:
            return 1.0
        return 1.0 if (polarity > 0) == (self.cut.polarity > 0) else -1.0

    def _break(self, start: int, why: str, out: PushResult) -> None:
        """The signal breaks: the open beat cannot end, the detector starts again."""
        if self._open is not None:
            self._lose(self._end, why, out)
        elif self._buf.size:
            self._drop_until(self._end, why, out)
        self._restart(start)
