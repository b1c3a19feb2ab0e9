"""Delayed-decision beat tracking: dynamic programming over candidate beat boundaries.

The matched filter of :mod:`stream.segmentation.fiducial` looks at 40 samples; when it misses a
beat start or fires inside a beat, a greedy tracker loses the rhythm for a beat or two. This module
keeps several hypotheses instead. Candidate boundaries are the local maxima of the filter output
above a low height (:data:`CANDIDATE_HEIGHT`) plus, after each strong peak (above the
detector's height), the position one running beat length later (a rhythm prediction, marked
interpolated). A path of boundaries scores, for every beat ``[a, b)`` on it::

    (b - a) / L * g(fit(a, b)) - LENGTH_WEIGHT * ((b - a) / L - 1) ** 2 / LENGTH_SPREAD ** 2
    + PEAK_WEIGHT * clip(filter(b) / height, -1, 1)

where ``fit`` is the best stretched-template correlation of :mod:`stream.segmentation.beatfit`,
``g(r) = -log(1 - r ** 2) / 2`` for ``r`` clipped to ``[0, FIT_CAP]`` (:func:`shape_gain`: the
Gaussian log-likelihood ratio of a fitted template over a flat beat), and ``L`` the running
beat length. A stretch from the stream start to the first boundary may instead be a partial
beat, worth ``PARTIAL_GAIN * (b - a) / L``; a candidate no beat path reaches is reached
from the anchor by a lost stretch worth ``LOST_GAIN`` (nothing), so the tracker recovers
when candidates are missing for longer than the longest beat. The whole-beat refinement of
each decided boundary (:meth:`stream.segmentation.beatfit.BeatFit.refine`) maximizes the same beat
gain. The best path is found by a forward (Viterbi) recursion, one small template product per
candidate (all its predecessors at once, aligned on the candidate). Boundaries are decided
:data:`DECISION_DELAY` beat lengths behind the newest candidate: the path to the best recent
candidate (with the unseen tail credited at ``TAIL_GAIN`` per beat length) is traced back
and its boundaries that old are final. The recursion then restarts from the last final
boundary, from cached per-candidate gains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from models.preprocess import BEAT_LENGTH
from stream.segmentation.beatfit import BeatFit
from stream.segmentation.fiducial import matched_filter

CANDIDATE_HEIGHT = 1.5
"""Lowest matched-filter output (z units) of a candidate boundary."""
CANDIDATE_DISTANCE = 8 / BEAT_LENGTH
"""Smallest distance between two filter candidates, in nominal beat lengths."""
LENGTH_RANGE = (0.6, 1.6)
"""Beat lengths considered, in running beat lengths."""
LENGTH_WEIGHT = 0.1
LENGTH_SPREAD = 0.15
PEAK_WEIGHT = 0.2
DECISION_DELAY = 3.5
"""Beat lengths between a boundary and the newest candidate before the boundary is final."""
FIT_CAP = 0.99
"""Largest correlation counted by :func:`beat_gain` (a gain of 1.96 per beat length)."""


def shape_gain(fits: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """``-log(1 - r ** 2) / 2`` for ``r = clip(fits, 0, FIT_CAP)`` (see :func:`beat_gain`)."""
    fit = np.clip(fits, 0.0, FIT_CAP)
    return -0.5 * np.log1p(-fit * fit)


PARTIAL_GAIN = float(shape_gain(0.5))
"""Per beat length, a partial first beat counts as a beat of correlation 0.5."""
TAIL_GAIN = float(shape_gain(0.8))
"""Per beat length, the unseen tail counts as beats of correlation 0.8."""
LOST_GAIN = 0.0
"""A lost stretch (no beat path reaches a candidate) is worth nothing: a fallback only."""


class Boundary(NamedTuple):
    """A final beat boundary: position, whether rhythm-predicted, whether after a lost stretch.

    ``lost``: no chain of plausible beats led from the previous final boundary to this one
    (candidates missing for longer than the longest beat); the stretch between is not a beat.
    """

    position: int
    interpolated: bool
    lost: bool = False


def beat_gain(fits: NDArray[np.float64], lengths: NDArray[np.int64],
              length: float) -> NDArray[np.float64]:
    """Score of beats of ``lengths`` samples with shape correlations ``fits``.

    The shape term is the Gaussian log-likelihood ratio of a fitted template (scale and
    offset per beat) over a flat beat, ``-log(1 - r ** 2) / 2`` per beat length for
    ``r = clip(fit, 0, FIT_CAP)``: it grows fast for good fits and flattens for poor ones,
    so one beat of a shape no template covers costs little and does not pull its
    neighbours' boundaries (with the correlation itself, spreading the misfit over several
    beats scored higher). Plus the length prior around the running beat length ``length``.
    """
    ratio = lengths / length
    return ratio * shape_gain(fits) - LENGTH_WEIGHT * ((ratio - 1) / LENGTH_SPREAD) ** 2


@dataclass
class _Node:
    """One processed candidate: its score and how it was reached."""

    best: float
    back: int | None
    interpolated: bool
    preds: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    gains: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))


class Tracker:
    """Viterbi beat tracker over one stream's sample buffer (absolute sample positions)."""

    def __init__(self, fit: BeatFit, template: NDArray[np.float64], height: float,
                 nominal: float) -> None:
        self.fit, self.template, self.height = fit, template, height
        self.distance = max(1, round(CANDIDATE_DISTANCE * nominal))
        self.reset(0, known=False)

    def reset(self, anchor: int, known: bool) -> None:
        """Restart at ``anchor``; ``known``: the anchor is a final beat boundary."""
        self.anchor, self.known = anchor, known
        self.nodes: dict[int, _Node] = {anchor: _Node(0.0, None, False)}
        self.future: dict[int, bool] = {}  # candidates not processed yet -> interpolated
        self.scanned = anchor  # filter peaks searched up to (exclusive)
        self._score: tuple[int, NDArray[np.float64]] = (anchor, np.empty(0))

    @property
    def nbytes(self) -> int:
        """Approximate bytes of the tracker's state (nodes, candidates, last filter output)."""
        arrays = sum(n.preds.nbytes + n.gains.nbytes for n in self.nodes.values())
        return arrays + 500 * (len(self.nodes) + len(self.future)) + self._score[1].nbytes

    def advance(self, buf: NDArray[np.float64], start: int, length: float,
                final: bool) -> list[Boundary]:
        """Take the buffer ``buf`` (first sample at ``start``); return the final boundaries.

        Args:
            buf: the sample buffer, covering ``[start, start + buf.size)`` and the anchor.
            start: absolute index of ``buf[0]``.
            length: running beat length ``L``, samples.
            final: end of stream: decide everything up to the buffer end.

        Returns:
            The final boundaries in order; the anchor is listed first when the stretch after
            it is a beat and the anchor was not known to be a boundary.
        """
        end = start + buf.size
        ready = self._scan(buf, start, length, final)
        for pos in sorted(p for p in self.future if p <= ready):
            interpolated = self.future.pop(pos)
            if not (interpolated and self._near_peak(pos)):
                self._process(buf, start, pos, interpolated, length)
        newest = end if final else max(self.nodes)
        tail = {p: n.best + TAIL_GAIN * (newest - p) / length for p, n in self.nodes.items()
                if p >= newest - LENGTH_RANGE[1] * length and np.isfinite(n.best)}
        if not tail:
            return []
        horizon = end if final else newest - DECISION_DELAY * length
        return self._commit(self._trace(max(tail, key=tail.__getitem__)), horizon)

    def _scan(self, buf: NDArray[np.float64], start: int, length: float, final: bool) -> int:
        """Find new filter candidates; return the position up to which all are known."""
        size = self.template.size
        lo = max(self.scanned - self.distance - size, start)
        score = matched_filter(buf[lo - start :], self.template)
        valid = lo + score.size  # filter output exists below this position
        ready = valid if final else valid - self.distance
        if score.size:
            padded = np.concatenate([[-np.inf], score, [-np.inf]])
            peaks, _ = signal.find_peaks(padded, height=CANDIDATE_HEIGHT,
                                         distance=self.distance)
            for peak in peaks - 1 + lo:
                if self.scanned <= peak < ready and peak > self.anchor:
                    self.future[int(peak)] = False
                    if score[peak - lo] >= self.height:
                        self.future.setdefault(int(peak + round(length)), True)
        self.scanned = max(self.scanned, ready)
        self._score = (lo, score)
        return ready

    def _near_peak(self, pos: int) -> bool:
        """Whether a filter candidate lies within the candidate distance of ``pos``."""
        return any(abs(pos - p) < self.distance and not self.nodes[p].interpolated
                   for p in self.nodes) or any(
            abs(pos - p) < self.distance and not f for p, f in self.future.items())

    def _peak_bonus(self, pos: int) -> float:
        lo, score = self._score
        if 0 <= pos - lo < score.size:
            return PEAK_WEIGHT * float(np.clip(score[pos - lo] / self.height, -1.0, 1.0))
        return 0.0

    def _process(self, buf: NDArray[np.float64], start: int, pos: int, interpolated: bool,
                 length: float) -> None:
        """Add candidate ``pos``: gains of every beat ending there, then its best score."""
        lo = max(self.fit.lo, int(LENGTH_RANGE[0] * length))
        hi = min(self.fit.hi, int(LENGTH_RANGE[1] * length))
        preds = np.asarray([p for p in self.nodes if lo <= pos - p <= hi], dtype=np.int64)
        lengths = pos - preds
        gains = np.empty(0)
        if preds.size:
            gains = beat_gain(self.fit.to_lengths(buf, pos - start, lengths), lengths, length)
            gains += self._peak_bonus(pos)
        if not self.known and 0 < pos - self.anchor <= self.fit.hi:
            partial = PARTIAL_GAIN * (pos - self.anchor) / length
            preds, gains = np.append(preds, -1), np.append(gains, partial)
        elif not any(np.isfinite(self.nodes[p].best) for p in preds.tolist()):
            # No beat path reaches pos (no candidate for longer than the longest beat, e.g.
            # beat starts the filter misses at a stream start): without this the tracker
            # would never decide again. Reached from the anchor by a lost stretch instead.
            preds, gains = np.append(preds, -1), np.append(gains, LOST_GAIN)
        node = _Node(-np.inf, None, interpolated, preds, gains)
        self.nodes[pos] = node
        self._relax(pos, node)

    def _relax(self, pos: int, node: _Node) -> None:
        """Best score of ``node`` from its predecessors (``-1``: partial from the anchor)."""
        if node.preds.size == 0:
            node.best, node.back = -np.inf, None
            return
        base = np.asarray([self.nodes[p].best if p in self.nodes else
                           (0.0 if p == -1 else -np.inf) for p in node.preds.tolist()])
        total = base + node.gains
        index = int(np.argmax(total))
        node.best, node.back = float(total[index]), int(node.preds[index])

    def _trace(self, pos: int) -> list[int]:
        """Boundaries on the best path to ``pos`` (included), oldest first; -1: partial."""
        path: list[int] = [pos]
        back = self.nodes[pos].back
        while back is not None:
            path.append(back)
            back = self.nodes[back].back if back in self.nodes else None
        return path[::-1]

    def _commit(self, path: list[int], horizon: float) -> list[Boundary]:
        """Make the path's boundaries up to ``horizon`` final; restart from the last one."""
        decided = [p for p in path if p != -1 and p <= horizon]
        if path and path[0] == self.anchor and self.known:
            decided = decided[1:]
        if not decided:
            return []
        lost = self.known and path[0] == -1  # a known anchor, left by a lost stretch
        out = [Boundary(p, self.nodes[p].interpolated, lost and i == 0)
               for i, p in enumerate(decided)]
        last = decided[-1]
        kept = {p: n for p, n in self.nodes.items() if p > last}
        self.anchor, self.known = last, True
        self.nodes = {last: _Node(0.0, None, out[-1][1])}
        for pos in sorted(kept):
            node = kept[pos]
            keep = node.preds >= last
            node.preds, node.gains = node.preds[keep], node.gains[keep]
            self.nodes[pos] = node
            self._relax(pos, node)
        return out
