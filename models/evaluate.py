"""Offline evaluation: model metrics beside the 1-NN baseline on the same protocol split."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from models.calibrate import decide
from models.detector import Detector
from models.metrics import confusion, f1_score, nearest_neighbour_distance
from models.splits import Splits

logger = logging.getLogger(__name__)

LOW_PREVALENCE = 0.05


@dataclass(frozen=True)
class Scores:
    """Reconstruction errors of one protocol's beats, each float32 ``(n,)``."""

    validation: NDArray[np.float32]
    test_normal: NDArray[np.float32]
    test_anomaly: NDArray[np.float32]
    headline_anomaly: NDArray[np.float32]


def score_splits(detector: Detector, splits: Splits) -> Scores:
    """Score every evaluation array of ``splits`` with ``detector``."""
    return Scores(
        validation=detector.score(splits.validation),
        test_normal=detector.score(splits.test_normal),
        test_anomaly=detector.score(splits.test_anomaly),
        headline_anomaly=detector.score(splits.headline_anomaly),
    )


def _weights(labels: NDArray[np.int8], prevalence: float) -> NDArray[np.float64]:
    """Sample weights that make anomalies ``prevalence`` of the total weight."""
    n_anomaly, n_normal = int(labels.sum()), int(len(labels) - labels.sum())
    anomaly_weight = prevalence / (1.0 - prevalence) * n_normal / n_anomaly
    return np.where(labels == 1, anomaly_weight, 1.0)


def binary_metrics(
    normal: NDArray[np.floating], anomaly: NDArray[np.floating], threshold: float
) -> dict[str, Any]:
    """ROC-AUC, PR-AUC (natural and 5 % prevalence) and threshold metrics; anomaly = positive.

    Args:
        normal: scores ``(n,)`` of normal beats.
        anomaly: scores ``(m,)`` of anomalous beats.
        threshold: scores above it are called anomalous.
    """
    labels = np.r_[np.zeros(len(normal), np.int8), np.ones(len(anomaly), np.int8)]
    scores = np.r_[normal, anomaly].astype(np.float64)
    counts = confusion(labels == 1, decide(scores, threshold))
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    precision, recall = counts.precision, counts.recall
    low = _weights(labels, LOW_PREVALENCE)
    weight = float(low[-1])  # of one anomaly
    low_precision = tp * weight / (tp * weight + fp) if tp + fp else 0.0
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "pr_auc_at_5pct": float(average_precision_score(labels, scores, sample_weight=low)),
        "prevalence": len(anomaly) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1": counts.f1,
        "f1_at_5pct": f1_score(low_precision, recall),
        "threshold": float(threshold),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def evaluate_scores(splits: Splits, scores: Scores, threshold: float) -> dict[str, Any]:
    """The ``model evaluate --json`` document for one protocol, with the 1-NN baseline.

    The main keys compare all test normals with all test anomalies; for ``seed`` the
    ``seed_protocol`` counts and ``headline`` metrics use the first 145 anomalies.
    """
    report: dict[str, Any] = {"protocol": splits.name}
    report.update(binary_metrics(scores.test_normal, scores.test_anomaly, threshold))
    report["validation_normal_above_threshold"] = int(decide(scores.validation, threshold).sum())
    knn_normal = nearest_neighbour_distance(splits.train, splits.test_normal)
    knn_anomaly = nearest_neighbour_distance(splits.train, splits.test_anomaly)
    report["baseline_1nn_roc_auc"] = float(roc_auc_score(
        np.r_[np.zeros(len(knn_normal)), np.ones(len(knn_anomaly))], np.r_[knn_normal, knn_anomaly]
    ))
    report["counts"] = {"train": len(splits.train), "validation": len(splits.validation),
                        "test_normal": len(splits.test_normal),
                        "test_anomaly": len(splits.test_anomaly)}
    if splits.name == "seed":
        headline = binary_metrics(scores.test_normal, scores.headline_anomaly, threshold)
        report["headline"] = headline
        report["seed_protocol"] = {
            "normal_correct": headline["confusion"]["tn"], "normal_total": len(scores.test_normal),
            "anomaly_correct": headline["confusion"]["tp"],
            "anomaly_total": len(scores.headline_anomaly),
        }
    return report
