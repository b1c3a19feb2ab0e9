"""Frame ordering of one patient's stream: frames put back in ``frame_seq`` order, as steps.

:class:`FrameOrder` holds frames that arrive ahead of a missing one (a bounded reorder
buffer), gives up on missing frames after ``reorder_window`` held ones (a gap), drops
duplicates, late and far-future frames, restarts the stream after a run of far-future ones
(resync) and checks that each frame's ``start_sample`` continues the one before. What it
decides comes out as a sequence of :data:`Step`: an :class:`~stream.segmentation.issues.Issue`,
a :class:`Break` or :class:`Resync` of the signal, or a :class:`Run` of in-order samples.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from stream.segmentation.config import SegmenterConfig
from stream.segmentation.issues import Issue, Reason


@dataclass
class Frame:
    """One admitted frame: its ``frame_seq``, ``start_sample`` and samples."""

    seq: int
    start: int
    samples: NDArray[np.float64]


@dataclass(frozen=True)
class Run:
    """Samples that continue the stream in order, the first at stream index ``start``."""

    start: int
    samples: NDArray[np.float64]


@dataclass(frozen=True)
class Break:
    """The signal breaks (``why``: a gap or a start mismatch); it goes on at ``start``."""

    start: int
    why: str


@dataclass(frozen=True)
class Resync:
    """The stream restarted at stream index ``start``: nothing before it is kept."""

    start: int


Step = Issue | Run | Break | Resync
"""What :class:`FrameOrder` yields, in the order it is to be handled."""


class FrameOrder:
    """The ``frame_seq`` order of one patient's frames; not thread-safe.

    :meth:`push` and :meth:`finish` are generators: handle each step before taking the next,
    since :attr:`position` (changed by the consumer on its own restarts) is read between steps.
    """

    def __init__(self, reorder_window: int, max_ahead: int) -> None:
        self.reorder_window, self.max_ahead = reorder_window, max_ahead
        self.expected: int | None = None  # next frame_seq to consume
        self.position = 0  # stream index where the next in-order frame must start
        self.closed = False  # finish() was called and no frame came since
        self._pending: dict[int, Frame] = {}
        self._gaps: deque[tuple[int, int]] = deque(maxlen=16)
        self._far_run = 0

    @property
    def started(self) -> bool:
        """Whether a stream was started (a frame was pushed since construction)."""
        return self.expected is not None

    @property
    def held(self) -> int:
        """Samples of the frames held waiting for a missing one."""
        if not self._pending:
            return 0
        return sum(f.samples.size for f in self._pending.values())

    @property
    def nbytes(self) -> int:
        """Bytes of the held frames' samples."""
        return sum(f.samples.nbytes for f in self._pending.values())

    def reopens(self, seq: int, start: int) -> bool:
        """After :meth:`finish`: a new frame that does not continue the stream restarts it."""
        return self.closed and seq >= (self.expected or 0) and (
            seq != self.expected or start != self.position)

    def start(self, seq: int, start: int) -> None:
        """Start a new stream at frame ``seq``, stream index ``start``; held frames dropped."""
        self.expected = seq
        self._pending.clear()
        self.position = start

    def follows(self, seq: int, start: int, size: int) -> bool:
        """Consume now a frame that continues the stream in order with nothing held.

        The common case, without the steps of :meth:`push` (True: the caller uses the
        ``size`` samples as a :class:`Run`); False: nothing changed, use :meth:`push`.
        """
        if self._pending or seq != self.expected or start != self.position:
            return False
        self.closed = False
        self._far_run = 0
        self.expected = seq + 1
        self.position = start + size
        return True

    def push(self, frame: Frame, buffered: int) -> Iterator[Step]:
        """The steps one frame leads to; ``buffered``: samples a resync would lose downstream."""
        self.closed = False
        yield from self._route(frame, buffered)

    def finish(self) -> Iterator[Step]:
        """End of stream: the held frames used, the missing ones given up as gaps."""
        while self._pending:
            yield from self._declare_gap()
        self.closed = True

    def _route(self, frame: Frame, buffered: int) -> Iterator[Step]:
        seq, expected = frame.seq, self.expected if self.expected is not None else frame.seq
        if seq < expected or seq in self._pending:
            late = any(lo <= seq <= hi for lo, hi in self._gaps)
            reason = Reason.LATE if late else Reason.DUPLICATE
            yield Issue(reason, seq, frame.samples.size if late else 0)
            return
        if seq > expected + self.max_ahead:
            yield from self._far_future(frame, buffered)
            return
        self._far_run = 0
        self._pending[seq] = frame
        if seq > expected:
            yield Issue(Reason.REORDERED, seq, 0, f"waiting for {expected}")
        yield from self._drain()
        while len(self._pending) > self.reorder_window:
            yield from self._declare_gap()

    def _far_future(self, frame: Frame, buffered: int) -> Iterator[Step]:
        self._far_run += 1
        if self._far_run <= self.reorder_window:
            detail = f"expected {self.expected}"
            yield Issue(Reason.FAR_FUTURE, frame.seq, frame.samples.size, detail)
            return
        lost = buffered + self.held
        yield Issue(Reason.RESYNC, frame.seq, lost, f"expected {self.expected}")
        self._far_run = 0
        self._gaps.append((self.expected or 0, frame.seq - 1))
        self.start(frame.seq, frame.start)
        yield Resync(frame.start)
        yield from self._route(frame, buffered)

    def _drain(self) -> Iterator[Step]:
        while self.expected is not None and self.expected in self._pending:
            frame = self._pending.pop(self.expected)
            self.expected += 1
            if frame.start > self.position:
                # The next frame starts later: samples are missing (a reader's invalid
                # samples, a device dropout). A gap in the signal; the frame is used.
                missing = frame.start - self.position
                detail = f"start_sample {frame.start}, expected {self.position}"
                yield Issue(Reason.GAP, frame.seq, missing, f"{missing} samples missing: {detail}")
                self.position = frame.start
                yield Break(frame.start, "gap")
            elif frame.start < self.position:
                detail = f"start_sample {frame.start}, expected {self.position}"
                yield Issue(Reason.START_MISMATCH, frame.seq, 0, detail)
                self.position = frame.start
                yield Break(frame.start, "start mismatch")
            self.position += frame.samples.size
            yield Run(frame.start, frame.samples)

    def _declare_gap(self) -> Iterator[Step]:
        first = min(self._pending)
        lo, hi = self.expected or 0, first - 1
        self._gaps.append((lo, hi))
        lost = max(0, self._pending[first].start - self.position)
        yield Issue(Reason.GAP, lo, lost, f"frames {lo}..{hi} missing")
        self.position = self._pending[first].start
        yield Break(self.position, "gap")
        self.expected = first
        yield from self._drain()


def admit(config: SegmenterConfig, seq: int, fs: float, values: NDArray[np.float64],
          current_fs: float | None, held: int) -> tuple[bool, list[Issue]]:
    """Whether a frame can be used, and the issues it raises (both segmenters).

    Refused: a rate outside the configured range or not finite (``bad_fs``), empty or
    non-finite samples (``bad_samples``). A rate other than ``current_fs`` is used, but the
    ``held`` samples of the old rate are lost (``fs_changed``).
    """
    if not (math.isfinite(fs) and config.min_sampling_rate <= fs <= config.max_sampling_rate):
        return False, [Issue(Reason.BAD_FS, seq, values.size, f"fs={fs}")]
    if values.size == 0 or not np.isfinite(values).all():
        return False, [Issue(Reason.BAD_SAMPLES, seq, values.size, "empty or non-finite")]
    if current_fs is not None and fs != current_fs:
        return True, [Issue(Reason.FS_CHANGED, seq, held, f"{current_fs} -> {fs} Hz")]
    return True, []
