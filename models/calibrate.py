"""Threshold calibration on validation scores: pure numpy, no torch.

The rule: the threshold is an empirical quantile of the reconstruction errors of the
validation normal beats (linear interpolation), times ``margin``. The quantile is
``min(quantile, 1 - min_exceedances / n)`` for n validation beats: the default
``quantile=0.995`` targets a false-alarm rate of 0.5 %, and the cap keeps at least 1.5
validation beats expected above the threshold, so that on a small validation set (59 beats in
the ``ucr`` protocol) the threshold is not simply its largest, possibly outlying, score.
Test data never enters the calibration.
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


def calibrate(validation_scores: NDArray[np.floating], rule: QuantileRule) -> float:
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
    return float(np.quantile(scores, rule.effective_quantile(len(scores))) * rule.margin)


def decide(scores: NDArray[np.floating], threshold: float) -> NDArray[np.bool_]:
    """True where a score is strictly above the threshold (anomalous); shape as ``scores``."""
    return np.asarray(scores) > threshold
