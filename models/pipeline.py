"""Train -> calibrate per runtime -> evaluate -> write a checkpoint (``model train``)."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import torch

from models.checkpoint import save_checkpoint
from models.data import Ecg5000
from models.detector import Detector
from models.evaluate import evaluate_scores, score_splits
from models.network import LstmAutoencoder
from models.protocols import Protocol, make_splits
from models.runtime import RuntimeName
from models.threshold import QuantileRule, calibrate
from models.train import TrainConfig, TrainResult, train

logger = logging.getLogger(__name__)

SCORE_TEXT = "sum over the 140 samples of |beat - reconstruction| (L1), z-normalized beats"
NORMALIZATION = {"method": "znormalize", "beat_length": 140, "ddof": 1,
                 "text": "per beat: subtract the mean, divide by the sample std (ddof=1)"}


def code_version() -> str:
    """The installed distribution's version, or ``unknown``."""
    try:
        return package_version("ecg-anomaly-stream")
    except PackageNotFoundError:
        return "unknown"


def calibrate_runtimes(model: LstmAutoencoder, validation: Any, rule: QuantileRule,
                       runtimes: tuple[RuntimeName, ...]) -> dict[str, float]:
    """One threshold per runtime, each from that runtime's validation scores."""
    return {
        name: calibrate(Detector(model, 0.0, "calibration", name).score(validation), rule)
        for name in runtimes
    }


def _training_record(protocol: Protocol, config: TrainConfig, result: TrainResult,
                     seconds: float) -> dict[str, Any]:
    return {
        "protocol": protocol, "config": dataclasses.asdict(config),
        "best_epoch": result.best_epoch, "epochs_run": len(result.val_loss),
        "train_loss": [round(v, 6) for v in result.train_loss],
        "val_loss": [round(v, 6) for v in result.val_loss],
        "seconds": round(seconds, 1), "torch": torch.__version__,
    }


def fit_checkpoint(data: Ecg5000, protocol: Protocol, config: TrainConfig, rule: QuantileRule,
                   out: Path, runtime: RuntimeName, runtimes: tuple[RuntimeName, ...],
                   progress: bool = True) -> dict[str, Any]:
    """Train on ``protocol``'s normals, calibrate each runtime on validation, save, evaluate.

    Args:
        data: ECG5000.
        protocol: ``seed`` or ``ucr``.
        config: training hyper-parameters.
        rule: threshold calibration rule (validation normals only).
        out: checkpoint directory to write.
        runtime: the runtime the checkpoint recommends (``load_detector`` default).
        runtimes: runtimes to calibrate a threshold for (must include ``runtime``).
        progress: show the training progress bar.

    Returns:
        The checkpoint's JSON config.
    """
    splits = make_splits(data, protocol)
    started = time.perf_counter()
    result = train(splits.train, splits.validation, config, progress)
    seconds = time.perf_counter() - started
    thresholds = calibrate_runtimes(result.model, splits.validation, rule,
                                    tuple(dict.fromkeys((runtime, *runtimes))))
    detector = Detector(result.model, thresholds[runtime], "evaluation", runtime)
    report = evaluate_scores(splits, score_splits(detector, splits), thresholds[runtime])
    hidden = "-".join(str(h) for h in config.hidden)
    config_json = {
        "version": f"lstm-ae-h{hidden}-{protocol}-seed{config.seed}",
        "code_version": code_version(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "runtime": runtime,
        "score": {"name": "l1_sum", "text": SCORE_TEXT},
        "normalization": NORMALIZATION,
        "threshold": {"value": thresholds[runtime], "by_runtime": thresholds,
                      "rule": rule.describe()},
        "training": _training_record(protocol, config, result, seconds),
        "data": {"checksums": data.checksums},
        "metrics": {protocol: report},
    }
    save_checkpoint(out, result.model, config_json)
    logger.info("wrote checkpoint %s", out)
    return config_json
