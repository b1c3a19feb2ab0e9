"""Threshold calibration on validation scores: pure numpy, no torch.

Two rules. ECG5000's (:class:`QuantileRule`): the threshold is an empirical quantile of
the reconstruction errors of the validation normal beats (linear interpolation), times
``margin``. The quantile is ``min(quantile, 1 - min_exceedances / n)`` for n validation
beats: the default ``quantile=0.995`` targets a false-alarm rate of 0.5 %, and the cap keeps
at least 1.5 validation beats expected above the threshold, so that on a small validation
set (59 beats in the ``ucr`` protocol) the threshold is not simply its largest, possibly
outlying, score. A user's recordings' (:class:`RobustRule`): a robust spread of the log
scores. Test data never enters the calibration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class QuantileRule:
    """Threshold = ``quantile`` of validation-normal scores times ``margin``."""

    quantile: float = 0.995
    margin: float = 1.0
    min_exceedances: float = 1.5

    def __post_init__(self) -> None:
        if not 0.0 < self.quantile <= 1.0 or self.margin <= 0.0 or self.min_exceedances < 0:
            msg = (f"need 0 < quantile <= 1, margin > 0, min_exceedances >= 0, got "
                   f"{self.quantile}, {self.margin}, {self.min_exceedances}")
            raise ValueError(msg)

    def effective_quantile(self, n: int) -> float:
        """The quantile used for ``n`` validation scores (never below the median)."""
        return max(0.5, min(self.quantile, 1.0 - self.min_exceedances / n))

    def describe(self) -> dict[str, Any]:
        """The rule as plain data for the checkpoint JSON."""
        text = (f"threshold = q-quantile (linear) of the validation normal beats' scores x "
                f"{self.margin}, q = min({self.quantile}, 1 - {self.min_exceedances}/n); "
                "never fitted on test data")
        return {"name": "validation_quantile", **asdict(self), "text": text}


@dataclass(frozen=True)
class RobustRule:
    """Threshold = ``exp(median + k x robust SD)`` of the validation normals' log scores.

    The robust SD is 1.4826 x the median absolute deviation. Reconstruction errors are
    skewed; their logarithms much less, and a median and a MAD are not moved by the tail
    that a quantile of a few hundred beats rests on. The default ``k = 6`` is the patient
    normal's factor (``stream.thresholds.normal.K_MAD``). It is the rule for models of a
    user's own recordings (``model train --record``), whose beats drift over hours: on
    record 100 (10 minutes of training, minutes 10-30 scored) the 0.995 quantile rule
    flagged 2.7-3.3 % of normal beats, this one 0.1-0.7 % (docs/model.md).
    """

    k: float = 6.0

    def __post_init__(self) -> None:
        if not self.k > 0:
            msg = f"need k > 0, got {self.k}"
            raise ValueError(msg)

    def describe(self) -> dict[str, Any]:
        """The rule as plain data for the checkpoint JSON."""
        text = (f"threshold = exp(median + {self.k} x 1.4826 x MAD) of the log scores of the "
                "validation normal beats; never fitted on test data")
        return {"name": "validation_robust_log", **asdict(self), "text": text}


Rule = QuantileRule | RobustRule


def calibrate(validation_scores: NDArray[np.floating], rule: Rule) -> float:
    """The threshold for scores of validation normal beats.

    Args:
        validation_scores: shape ``(n,)``, reconstruction errors of normal beats, n >= 1.
        rule: the calibration rule.

    Returns:
        The threshold, in score units; scores above it are anomalous.
    """
    scores = np.asarray(validation_scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) == 0 or not np.isfinite(scores).all():
        msg = "validation scores must be a non-empty 1-D array of finite values"
        raise ValueError(msg)
    if isinstance(rule, RobustRule):
        logs = np.log(np.maximum(scores, np.finfo(np.float64).tiny))
        median = float(np.median(logs))
        spread = 1.4826 * float(np.median(np.abs(logs - median)))
        return float(np.exp(median + rule.k * spread))
    return float(np.quantile(scores, rule.effective_quantile(len(scores))) * rule.margin)


def decide(scores: NDArray[np.floating], threshold: float) -> NDArray[np.bool_]:
    """True where a score is strictly above the threshold (anomalous); shape as ``scores``."""
    return np.asarray(scores) > threshold
