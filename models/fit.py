"""Train -> calibrate per runtime -> evaluate -> write a checkpoint (``model train``)."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, cast

import torch

from models.backends import RuntimeName
from models.calibrate import QuantileRule, Rule, calibrate
from models.checkpoint import NORMALIZATION, load_checkpoint, read_config, save_checkpoint
from models.data import Ecg5000
from models.detector import Detector
from models.evaluate import evaluate_scores, score_splits
from models.network import LstmAutoencoder
from models.splits import Protocol, make_splits
from models.train import TrainConfig, TrainResult, train
from stream.errors import CheckpointError

logger = logging.getLogger(__name__)

SCORE_TEXT = "sum over the 140 samples of |beat - reconstruction| (L1), z-normalized beats"


def code_version() -> str:
    """The installed distribution's version, or ``unknown``."""
    try:
        return package_version("ecg-anomaly-stream")
    except PackageNotFoundError:
        return "unknown"


def calibrate_runtimes(model: LstmAutoencoder, validation: Any, rule: Rule,
                       runtimes: tuple[RuntimeName, ...]) -> dict[str, float]:
    """One threshold per runtime, each from that runtime's validation scores."""
    return {
        name: calibrate(Detector(model, 0.0, "calibration", name).score(validation), rule)
        for name in runtimes
    }


def training_record(config: TrainConfig, result: TrainResult, seconds: float
                    ) -> dict[str, Any]:
    """The checkpoint's record of a training run: hyper-parameters, losses, time, torch."""
    return {
        "config": dataclasses.asdict(config),
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
    record = {"protocol": protocol,
              **training_record(config, result, time.perf_counter() - started)}
    return package_checkpoint(data, result.model, record, rule, out, runtime, runtimes)


def package_checkpoint(data: Ecg5000, model: LstmAutoencoder, training: dict[str, Any],
                       rule: QuantileRule, out: Path, runtime: RuntimeName,
                       runtimes: tuple[RuntimeName, ...]) -> dict[str, Any]:
    """Calibrate every runtime on the validation split, evaluate on test and save.

    Args:
        data: ECG5000.
        model: the trained network (any device; scored on the CPU).
        training: the training record (``protocol``, ``config``, losses, ...).
        rule: threshold calibration rule (validation normals only).
        out: checkpoint directory to write.
        runtime: the runtime the checkpoint recommends.
        runtimes: runtimes to calibrate a threshold for.

    Returns:
        The checkpoint's JSON config.
    """
    protocol: Protocol = training["protocol"]
    splits = make_splits(data, protocol)
    model = model.cpu().eval()
    thresholds = calibrate_runtimes(model, splits.validation, rule,
                                    tuple(dict.fromkeys((runtime, *runtimes))))
    detector = Detector(model, thresholds[runtime], "evaluation", runtime)
    report = evaluate_scores(splits, score_splits(detector, splits), thresholds[runtime])
    return write_checkpoint(model, out, protocol, training, {"checksums": data.checksums},
                            rule, thresholds, runtime, {protocol: report})


def write_checkpoint(model: LstmAutoencoder, out: Path, source: str, training: dict[str, Any],
                     data: dict[str, Any], rule: Rule, thresholds: dict[str, float],
                     runtime: RuntimeName, metrics: dict[str, Any]) -> dict[str, Any]:
    """Save a trained network with its thresholds, training and data records and metrics.

    The version is ``lstm-ae-h{hidden}-{source}-seed{seed}`` and the data's and weights'
    hashes (:func:`models.checkpoint.unique_version`). Returns the config written.
    """
    hidden = "-".join(str(h) for h in model_hidden(model))
    config_json = {
        "version": f"lstm-ae-h{hidden}-{source}-seed{training['config']['seed']}",
        "code_version": code_version(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "runtime": runtime,
        "score": {"name": "l1_sum", "text": SCORE_TEXT},
        "normalization": NORMALIZATION,
        "threshold": {"value": thresholds[runtime], "by_runtime": thresholds,
                      "rule": rule.describe()},
        "training": training,
        "data": data,
        "metrics": metrics,
    }
    save_checkpoint(out, model, config_json)
    logger.info("wrote checkpoint %s", out)
    return read_config(out)  # as written: with its version's hashes, weights and seal


def model_hidden(model: LstmAutoencoder) -> tuple[int, ...]:
    """The encoder's hidden sizes of a network."""
    # nn.ModuleList does not type its items: the encoder's are the LSTMs it was built with.
    return tuple(cast(torch.nn.LSTM, layer).hidden_size for layer in model.encoder)


def recalibrate_checkpoint(data: Ecg5000, source: Path, rule: QuantileRule, out: Path,
                           runtime: RuntimeName | None,
                           runtimes: tuple[RuntimeName, ...]) -> dict[str, Any]:
    """Re-derive a checkpoint's thresholds and metrics here, keeping weights and training record.

    For a checkpoint trained elsewhere (a GPU machine, another torch build): every runtime
    gets its threshold from its own validation scores on this machine, and the test metrics
    are measured again.

    Args:
        data: ECG5000 (its checksums must be the ones the checkpoint was trained on).
        source: checkpoint directory to read.
        rule: threshold calibration rule.
        out: checkpoint directory to write (may be ``source``).
        runtime: the runtime to recommend; None keeps the checkpoint's.
        runtimes: runtimes to calibrate.

    Raises:
        CheckpointError: unreadable checkpoint, or trained on other data.
    """
    checkpoint = load_checkpoint(source)
    trained_on = checkpoint.config.get("data", {}).get("checksums", {}).get("arrays")
    if trained_on != data.checksums.get("arrays"):
        msg = f"checkpoint {source} was trained on other data (arrays sha256 {trained_on})"
        raise CheckpointError(msg)
    return package_checkpoint(data, checkpoint.model, checkpoint.config["training"], rule, out,
                              runtime or checkpoint.config["runtime"], runtimes)
