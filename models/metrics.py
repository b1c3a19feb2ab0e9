"""Detection metrics in pure numpy: confusion counts, precision/recall/F1, 1-NN distance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

_NN_CHUNK = 1024


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary decision against the truth (anomaly = positive)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Share of flagged that are positive, tp / (tp + fp); 0 when nothing was flagged."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Share of positives flagged, tp / (tp + fn); 0 when there is no positive."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return f1_score(self.precision, self.recall)


def confusion(truth: ArrayLike, predicted: ArrayLike) -> Confusion:
    """Confusion counts of boolean ``predicted`` against boolean ``truth`` (same shape)."""
    true = np.asarray(truth, dtype=bool)
    said = np.asarray(predicted, dtype=bool)
    return Confusion(tp=int(np.sum(true & said)), fp=int(np.sum(~true & said)),
                     fn=int(np.sum(true & ~said)), tn=int(np.sum(~true & ~said)))


def f1_score(precision: float, recall: float) -> float:
    """F1 of a precision and a recall; 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def nearest_neighbour_distance(reference: NDArray[np.floating], queries: NDArray[np.floating],
                               rank: int = 0, dtype: DTypeLike = np.float32) -> NDArray:
    """Euclidean distance from each query beat to its nearest reference beat (1-NN baseline).

    Computed in float64, ``_NN_CHUNK`` queries at a time.

    Args:
        reference: ``(m, length)``, e.g. the training normal beats.
        queries: ``(n, length)``.
        rank: 0 for the nearest reference; 1 for the second nearest (leave-one-out when the
            queries are the reference itself).
        dtype: dtype of the result.

    Returns:
        ``(n,)`` of ``dtype``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    ref_sq = (ref**2).sum(axis=1)
    out = np.empty(len(queries), dtype=dtype)
    for start in range(0, len(queries), _NN_CHUNK):
        q = np.asarray(queries[start : start + _NN_CHUNK], dtype=np.float64)
        d2 = (q**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T
        nearest = np.partition(d2, rank, axis=1)[:, rank] if rank else d2.min(axis=1)
        out[start : start + len(q)] = np.sqrt(np.maximum(nearest, 0.0))
    return out
