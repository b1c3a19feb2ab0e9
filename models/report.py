"""``model evaluate``: load a checkpoint, score a protocol, compare with 1-NN, draw plots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from models.backends import RuntimeName
from models.checkpoint import DEFAULT_DIR, UCR_DIR, read_config
from models.data import Ecg5000
from models.detector import load_detector
from models.evaluate import evaluate_scores, score_splits
from models.metrics import nearest_neighbour_distance
from models.plots import GRID_COLUMNS, plot_histograms, plot_reconstructions, plot_roc
from models.splits import Protocol, Splits, make_splits
from stream.errors import CheckpointError

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINTS: dict[str, Path] = {"seed": DEFAULT_DIR, "ucr": UCR_DIR}


def checkpoint_for(protocol: Protocol, directory: Path | None) -> Path:
    """The checkpoint to evaluate; refuses one trained on another protocol's split.

    A ``seed`` checkpoint has seen ECG5000_TEST rows in training, so scoring it on the
    ``ucr`` test split (or the reverse) would leak; it is refused.
    """
    directory = Path(directory) if directory is not None else DEFAULT_CHECKPOINTS[protocol]
    trained_on = read_config(directory).get("training", {}).get("protocol")
    if trained_on != protocol:
        msg = (f"checkpoint {directory} was trained on protocol {trained_on!r}; evaluate it "
               f"with --protocol {trained_on} or pass a checkpoint trained on {protocol!r}")
        raise CheckpointError(msg)
    return directory


def run_evaluation(data: Ecg5000, protocol: Protocol, directory: Path | None,
                   runtime: RuntimeName | None = None, plots: Path | None = None
                   ) -> dict[str, Any]:
    """The ``model evaluate --json`` document; writes PNGs to ``plots`` when given."""
    directory = checkpoint_for(protocol, directory)
    detector = load_detector(directory, runtime)
    splits = make_splits(data, protocol)
    scores = score_splits(detector, splits)
    report = evaluate_scores(splits, scores, detector.threshold)
    report.update(checkpoint=str(directory), version=detector.version,
                  runtime=detector.runtime_name)
    if plots is not None:
        report["plots"] = [str(p) for p in write_plots(detector, splits, scores, plots)]
    return report


def write_plots(detector: Any, splits: Splits, scores: Any, directory: Path) -> list[Path]:
    """Histogram, ROC (with the 1-NN baseline) and reconstruction-grid PNGs."""
    anomalies = splits.headline_anomaly
    baseline = (nearest_neighbour_distance(splits.train, splits.test_normal),
                nearest_neighbour_distance(splits.train, splits.test_anomaly))
    normal_beats = splits.test_normal[:GRID_COLUMNS]
    anomaly_beats = anomalies[:GRID_COLUMNS]
    return [
        plot_histograms(scores.test_normal, scores.headline_anomaly, detector.threshold,
                        directory / f"{splits.name}_error_histogram.png"),
        plot_roc(scores.test_normal, scores.test_anomaly, baseline,
                 directory / f"{splits.name}_roc.png"),
        plot_reconstructions((normal_beats, detector.reconstruct(normal_beats)),
                             (anomaly_beats, detector.reconstruct(anomaly_beats)),
                             directory / f"{splits.name}_reconstructions.png"),
    ]
