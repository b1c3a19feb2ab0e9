"""Whole-beat boundary refinement: fit each beat against stretched class-mean templates.

The matched filter of :mod:`stream.segmentation.fiducial` sees only the first 40 samples of a beat,
so a beat whose start has no QRS-like shape (common in ECG5000 class 2) gets its onset placed
early or not at all. This module scores a candidate beat ``[a, b)`` by the Pearson
correlation of its samples with each TRAIN class mean resampled to ``b - a`` samples (the best
class counts), and moves a boundary ``b`` between two neighbours ``p < b < n`` to the position
within a small radius that maximizes ``fit(p, b) + fit(b, n)``. All correlations of one
side are one matrix product with a stack of zero-padded stretched templates, so a refinement
costs two small products. The templates (TRAIN class means and k-means centroids) are learned
by :func:`learn_templates` and ship in ``stream/segmentation/fiducial.json`` (``beat_templates``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import interpolate

LENGTH_RANGE = (0.5, 1.9)
"""Beat lengths, in nominal beat lengths, for which stretched templates are prepared."""
_EPS = 1e-9


def learn_templates(beats: NDArray[np.floating], labels: NDArray[np.integer],
                    clusters: int = 96, seed: int = 0) -> NDArray[np.float64]:
    """Shapes a beat may take: the TRAIN class means, then ``clusters`` k-means centroids.

    Class means alone are too blurred for the varied anomalous beats; the centroids (cosine
    k-means over all TRAIN beats, labels unused) add the common individual shapes.

    Args:
        beats: shape ``(n, 140)``, z-normalized TRAIN beats.
        labels: shape ``(n,)``, their classes.
        clusters: k-means centroids added after the class means.
        seed: seed of the k-means initialization.

    Returns:
        float64, shape ``(classes + clusters, 140)``, each row zero-mean and unit-norm.
    """
    values = _unit(np.asarray(beats, dtype=np.float64))
    means = _unit(np.stack([values[labels == c].mean(axis=0) for c in np.unique(labels)]))
    return np.concatenate([means, _kmeans(values, clusters, seed)])


def _unit(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), _EPS)


def _kmeans(values: NDArray[np.float64], k: int, seed: int, rounds: int = 50) -> NDArray:
    """Cosine k-means of unit rows ``(n, m)``; returns ``(k, m)`` unit centroids."""
    rng = np.random.default_rng(seed)
    centroids = values[rng.choice(len(values), k, replace=False)]
    for _ in range(rounds):
        nearest = np.argmax(values @ centroids.T, axis=1)
        centroids = _unit(np.stack([values[nearest == j].mean(axis=0) if (nearest == j).any()
                                    else centroids[j] for j in range(k)]))
    return centroids


@dataclass(frozen=True)
class BeatFit:
    """Stretched templates at one sampling rate, stacked for every length in ``[lo, hi]``.

    Attributes:
        lo: shortest prepared beat length, samples.
        hi: longest prepared beat length, samples.
        classes: templates per length.
        left: float32 (half the memory traffic of the products), shape
            ``((hi - lo + 1) * classes, hi)``; row ``(l - lo) * classes + c`` holds
            template ``c`` stretched to ``l`` samples (zero-mean, unit-norm) in its first
            ``l`` columns, zeros after.
        right: the same templates aligned to the last column instead.
    """

    lo: int
    hi: int
    classes: int
    left: NDArray[np.float64]
    right: NDArray[np.float64]

    def from_start(self, x: NDArray[np.float64], a: int, l1: int, l2: int) -> NDArray:
        """Best correlation of ``x[a : a + l]`` for each ``l`` in ``[l1, l2]``, shape ``(n,)``."""
        seg = x[a : a + self.hi]
        if seg.size < self.hi:  # the stack is zero past each length: any padding will do
            seg = np.concatenate([seg, np.zeros(self.hi - seg.size)])
        dots = self.left[self._rows(l1, l2)] @ seg.astype(np.float32)
        return dots.reshape(-1, self.classes).max(axis=1) / _spread(seg, l1, l2)

    def to_end(self, x: NDArray[np.float64], e: int, l1: int, l2: int) -> NDArray:
        """Best correlation of ``x[e - l : e]`` for each ``l`` in ``[l1, l2]``, shape ``(n,)``."""
        seg = x[max(0, e - self.hi) : e]
        if seg.size < self.hi:
            seg = np.concatenate([np.zeros(self.hi - seg.size), seg])
        dots = self.right[self._rows(l1, l2)] @ seg.astype(np.float32)
        return dots.reshape(-1, self.classes).max(axis=1) / _spread(seg[::-1], l1, l2)

    def to_lengths(self, x: NDArray[np.float64], e: int, lengths: NDArray[np.int64]) -> NDArray:
        """Best correlation of ``x[e - l : e]`` for each ``l`` of ``lengths`` (in ``[lo, hi]``)."""
        seg = x[max(0, e - self.hi) : e]
        if seg.size < self.hi:
            seg = np.concatenate([np.zeros(self.hi - seg.size), seg])
        rows = ((lengths - self.lo)[:, None] * self.classes + np.arange(self.classes)).ravel()
        dots = self.right[rows] @ seg.astype(np.float32)
        dots = dots.reshape(-1, self.classes).max(axis=1)
        back = seg[::-1]
        total, squares = np.cumsum(back)[lengths - 1], np.cumsum(back * back)[lengths - 1]
        return dots / np.sqrt(np.maximum(squares - total * total / lengths, _EPS))

    def _rows(self, l1: int, l2: int) -> slice:
        return slice((l1 - self.lo) * self.classes, (l2 - self.lo + 1) * self.classes)

    def refine(self, x: NDArray[np.float64], p: int | None, b: int, n: int, radius: int,
               gain: Callable[[NDArray, NDArray], NDArray] | None = None) -> int:
        """Move boundary ``b`` within ``radius`` to best fit the beats ``[p, b)`` and ``[b, n)``.

        Args:
            x: shape ``(m,)``, the signal buffer; ``p``, ``b`` and ``n`` index it.
            p: the boundary before (final), or None when there is none (right side only).
            b: the boundary to move.
            n: the boundary after (not yet refined), ``n <= m``.
            radius: largest move, samples.
            gain: score of beats from their correlations and lengths, as the tracker's
                :func:`stream.segmentation.tracker.beat_gain`; None sums the correlations.

        Returns:
            The refined boundary (``b`` when no candidate has prepared lengths on both sides).
        """
        first = max(b - radius, n - self.hi, p + self.lo if p is not None else 0)
        last = min(b + radius, n - self.lo, p + self.hi if p is not None else n)
        if first > last:
            return b
        gain = gain or (lambda fits, _: fits)
        pos = np.arange(first, last + 1)
        score = gain(self.to_end(x, n, n - last, n - first)[::-1], n - pos)
        if p is not None:
            score = score + gain(self.from_start(x, p, first - p, last - p), pos - p)
        return first + int(np.argmax(score))


def _spread(seg: NDArray[np.float64], l1: int, l2: int) -> NDArray[np.float64]:
    """Norm of ``seg[:l] - mean(seg[:l])`` for each ``l`` in ``[l1, l2]``."""
    head = seg[:l2]
    total = np.cumsum(head)[l1 - 1 :]
    squares = np.cumsum(head * head)[l1 - 1 :]
    count = np.arange(l1, l2 + 1)
    return np.sqrt(np.maximum(squares - total * total / count, _EPS))


def fit_bounds(nominal: float) -> tuple[int, int]:
    """Shortest and longest prepared beat length (samples) for a nominal beat length."""
    lo = max(8, int(LENGTH_RANGE[0] * nominal))
    return lo, max(lo, int(np.ceil(LENGTH_RANGE[1] * nominal)))


def fit_nbytes(classes: int, nominal: float) -> int:
    """Bytes of the two float32 stacks :func:`stretched` prepares (without building them)."""
    lo, hi = fit_bounds(nominal)
    return 2 * 4 * (hi - lo + 1) * classes * hi


def stretched(templates: tuple[tuple[float, ...], ...], nominal: float) -> BeatFit:
    """Prepare the stacks for beats of ``LENGTH_RANGE`` times ``nominal`` samples.

    Not cached here: the caller (:class:`stream.segmentation.plans.RatePlans`) keeps a bounded
    number. One cubic spline through all templates is evaluated once per length (the same values as
    :func:`models.preprocess.resample_beat`, to rounding). Memory: :func:`fit_nbytes`,
    about ``2150 * nominal ** 2`` bytes with the 101 shipped shapes (40 MiB at 140 samples).

    Args:
        templates: the learned class means (each of the same length >= 4).
        nominal: nominal beat length at the stream's (working) sampling rate, samples.

    Returns:
        The prepared fit.
    """
    base = np.asarray(templates, dtype=np.float64)  # (classes, m)
    classes, size = base.shape
    spline = interpolate.CubicSpline(np.arange(size), base.T)
    lo, hi = fit_bounds(nominal)
    count = (hi - lo + 1) * classes
    left, right = np.zeros((count, hi), np.float32), np.zeros((count, hi), np.float32)
    for index, length in enumerate(range(lo, hi + 1)):
        rows = spline(np.linspace(0.0, size - 1.0, length)).T  # (classes, length)
        rows -= rows.mean(axis=1, keepdims=True)
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), _EPS)
        block = slice(index * classes, (index + 1) * classes)
        left[block, :length] = rows
        right[block, hi - length :] = rows
    return BeatFit(lo, hi, classes, left, right)
