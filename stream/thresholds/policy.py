"""Threshold policy: running statistics of reconstruction error and the per-beat decision.

Pure numpy: no redis, kafka or faust here. :mod:`stream.thresholds.redis_store` keeps the
statistics in Redis; the worker wires the two together once per micro-batch::

    stats = await store.fetch(patients)              # state before the batch
    thresholds, sources = policy.thresholds(patients, stats)
    anomalous = policy.decide(scores, thresholds)
    await store.merge(policy.batch_updates(patients, scores, anomalous))

Within one micro-batch every beat is judged against the statistics as they were *before* the
batch; the batch's own beats only count from the next batch on. See
``docs/thresholds-and-alerts.md`` for the policy and its defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stream.settings import Settings

GLOBAL_STATS: Final = ""
"""Key of the all-patients statistics in :meth:`ThresholdPolicy.batch_updates` results.

Patient ids are never empty (the wire schemas require ``min_length=1``), so it cannot clash.
"""

ThresholdSource = Literal["static", "patient"]


@dataclass(frozen=True)
class RunningStats:
    """Count, mean and sum of squared deviations (Welford's ``m2``) plus an EWMA of scores.

    The EWMA is bias-corrected: ``ewma`` is the weighted mean of the values seen with weights
    ``alpha * (1 - alpha) ** age`` normalised by their sum ``ewma_weight``, which always
    equals ``1 - (1 - alpha) ** count``. Storing ``ewma_weight`` lets :meth:`merge` combine
    EWMAs without knowing ``alpha``.

    Attributes:
        count: number of values.
        mean: their mean (0 when empty).
        m2: sum of squared deviations from the mean; ``variance = m2 / count``.
        ewma: bias-corrected exponentially weighted mean, newest values weigh most.
        ewma_weight: total EWMA weight, in [0, 1].
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    ewma: float = 0.0
    ewma_weight: float = 0.0

    @classmethod
    def from_values(cls, values: ArrayLike, alpha: float = 0.05) -> RunningStats:
        """Statistics of ``values`` (shape ``(n,)``, in arrival order, oldest first).

        Args:
            values: the scores; non-finite values are the caller's job to drop.
            alpha: EWMA smoothing factor in (0, 1]; the newest value has weight ``alpha``.
        """
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size == 0:
            return cls()
        if not 0.0 < alpha <= 1.0:
            msg = f"alpha must be in (0, 1], got {alpha}"
            raise ValueError(msg)
        mean = float(x.mean())
        weights = alpha * (1.0 - alpha) ** np.arange(x.size - 1, -1, -1, dtype=np.float64)
        total = float(weights.sum())
        return cls(
            count=int(x.size),
            mean=mean,
            m2=float(np.square(x - mean).sum()),
            ewma=float(weights @ x / total),
            ewma_weight=total,
        )

    def merge(self, later: RunningStats) -> RunningStats:
        """These statistics followed by ``later`` (Chan et al.'s parallel merge).

        Count, mean and ``m2`` are order-independent; the EWMA treats ``later`` as newer.
        :data:`stream.thresholds.redis_store.MERGE_LUA` does the same arithmetic inside Redis.
        """
        if later.count == 0:
            return self
        if self.count == 0:
            return later
        count = self.count + later.count
        delta = later.mean - self.mean
        mean = self.mean + delta * later.count / count
        m2 = self.m2 + later.m2 + delta * delta * self.count * later.count / count
        kept = (1.0 - later.ewma_weight) * self.ewma_weight
        weight = kept + later.ewma_weight
        ewma = (kept * self.ewma + later.ewma_weight * later.ewma) / weight
        return RunningStats(count, mean, m2, ewma, weight)

    @property
    def variance(self) -> float:
        """Population variance (ddof=0); 0 when empty."""
        return self.m2 / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        """Population standard deviation; 0 when empty."""
        return float(np.sqrt(max(self.variance, 0.0)))


@dataclass(frozen=True)
class ThresholdPolicy:
    """Turns scores into decisions with a static or a per-patient adaptive threshold.

    * ``static`` mode: every beat is judged against ``static_threshold``.
    * ``adaptive`` mode: a patient with fewer than ``warmup_beats`` beats in its statistics
      is judged against ``static_threshold``; afterwards against
      ``max(static, mean_p + k * std_p)``, optionally capped at ``max_factor * static``.
      The threshold may rise above the calibrated one for a noisy patient (fewer alarm
      floods), never fall below it (the calibrated sensitivity is what we promise).

    A beat is anomalous when its score is strictly above its threshold (as in
    :func:`models.calibrate.decide`).

    Attributes:
        static_threshold: the checkpoint's calibrated threshold, in score units.
        mode: ``"static"`` or ``"adaptive"``.
        warmup_beats: beats a patient needs in its statistics before they count.
        k: multiples of the patient's standard deviation above its mean.
        update_on_anomaly: whether beats judged anomalous enter the statistics (river's
            ``protect_anomaly_detector`` is the opposite flag).
        ewma_alpha: EWMA smoothing factor of the statistics.
        max_factor: optional ceiling of the patient threshold, as a multiple of the static
            one; ``None`` means no ceiling.
    """

    static_threshold: float
    mode: Literal["static", "adaptive"] = "adaptive"
    warmup_beats: int = 32
    k: float = 4.0
    update_on_anomaly: bool = False
    ewma_alpha: float = 0.05
    max_factor: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.static_threshold):
            msg = f"static threshold must be finite, got {self.static_threshold}"
            raise ValueError(msg)
        if self.max_factor is not None and self.max_factor < 1.0:
            msg = f"max_factor must be >= 1 (never below static), got {self.max_factor}"
            raise ValueError(msg)

    @classmethod
    def from_settings(cls, settings: Settings, static_threshold: float) -> ThresholdPolicy:
        """The policy configured by ``settings`` around the checkpoint's threshold."""
        return cls(
            static_threshold=float(static_threshold),
            mode=settings.threshold_mode,
            warmup_beats=settings.warmup_beats,
            k=settings.threshold_k,
            update_on_anomaly=settings.stats_update_on_anomaly,
            ewma_alpha=settings.ewma_alpha,
            max_factor=settings.threshold_max_factor,
        )

    def patient_threshold(self, stats: RunningStats | None) -> tuple[float, ThresholdSource]:
        """The threshold of one patient given its statistics, and where it came from."""
        if self.mode == "static" or stats is None or stats.count < max(self.warmup_beats, 1):
            return self.static_threshold, "static"
        own = stats.mean + self.k * stats.std
        if not np.isfinite(own) or own <= self.static_threshold:
            return self.static_threshold, "static"
        if self.max_factor is not None:
            own = min(own, self.max_factor * self.static_threshold)
        return float(own), "patient"

    def thresholds(
        self, patients: Sequence[str], stats: Mapping[str, RunningStats]
    ) -> tuple[NDArray[np.float64], list[ThresholdSource]]:
        """Per-beat thresholds of a micro-batch.

        Args:
            patients: patient id of each beat, length ``n``.
            stats: statistics before the batch; a missing patient counts as empty (an empty
                mapping, e.g. in degraded mode without Redis, gives the static threshold).

        Returns:
            Thresholds, shape ``(n,)`` float64, and each beat's source (``"static"`` when the
            static threshold applied, ``"patient"`` when the patient's own one did).
        """
        cache = {p: self.patient_threshold(stats.get(p)) for p in set(patients)}
        values = np.fromiter((cache[p][0] for p in patients), np.float64, len(patients))
        return values, [cache[p][1] for p in patients]

    @staticmethod
    def decide(scores: ArrayLike, thresholds: ArrayLike) -> NDArray[np.bool_]:
        """True where a score is strictly above its threshold; shape ``(n,)``.

        A NaN score compares false: it is never anomalous here and never enters the stats;
        the detector is expected to return finite scores.
        """
        return np.asarray(scores, dtype=np.float64) > np.asarray(thresholds, dtype=np.float64)

    def batch_updates(
        self, patients: Sequence[str], scores: ArrayLike, decisions: ArrayLike
    ) -> dict[str, RunningStats]:
        """What one micro-batch adds to the statistics, per patient and globally.

        Args:
            patients: patient id of each beat, length ``n``, in arrival order.
            scores: reconstruction errors, shape ``(n,)``.
            decisions: the beats' anomaly decisions, shape ``(n,)`` bool.

        Returns:
            ``{patient: stats of its eligible beats}`` plus :data:`GLOBAL_STATS` for all of
            them. Eligible: finite scores, and only beats judged normal unless
            ``update_on_anomaly``. Patients without eligible beats are left out; the result
            is empty when no beat is eligible.
        """
        x = np.asarray(scores, dtype=np.float64)
        keep = np.isfinite(x)
        if not self.update_on_anomaly:
            keep &= ~np.asarray(decisions, dtype=bool)
        if not keep.any():
            return {}
        values = x[keep]
        updates = _grouped_stats(np.asarray(patients, dtype=object)[keep], values,
                                 self.ewma_alpha)
        updates[GLOBAL_STATS] = RunningStats.from_values(values, self.ewma_alpha)
        return updates


def _grouped_stats(ids: NDArray[np.object_], x: NDArray[np.float64], alpha: float
                   ) -> dict[str, RunningStats]:
    """:meth:`RunningStats.from_values` of each patient's values, vectorized over patients.

    ``ids[i]`` is the patient of ``x[i]`` (arrival order); the result is in order of first
    arrival. The same arithmetic as ``from_values`` up to rounding (sums in another order).
    """
    names, first, group, counts = np.unique(ids, return_index=True, return_inverse=True,
                                            return_counts=True)
    group = group.ravel()
    mean = np.bincount(group, weights=x) / counts
    m2 = np.bincount(group, weights=np.square(x - mean[group]))
    # age of each value within its patient's values: how many of them arrived after it
    order = np.argsort(group, kind="stable")
    rank = np.empty(len(x), dtype=np.int64)
    rank[order] = np.arange(len(x)) - np.repeat(np.cumsum(counts) - counts, counts)
    weights = alpha * (1.0 - alpha) ** (counts[group] - 1 - rank)
    total = np.bincount(group, weights=weights)
    ewma = np.bincount(group, weights=weights * x) / total
    columns = zip(names.tolist(), counts.tolist(), mean.tolist(), m2.tolist(), ewma.tolist(),
                  total.tolist(), strict=True)
    stats = {name: RunningStats(n, mu, sq, e, w) for name, n, mu, sq, e, w in columns}
    return {name: stats[name] for name in names[np.argsort(first)].tolist()}
