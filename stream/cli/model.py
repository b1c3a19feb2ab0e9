"""``ecg-stream model``: train, evaluate and benchmark the autoencoder.

Torch and the model modules are imported inside the commands so ``ecg-stream --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from models.calibrate import QuantileRule
from models.runtimes import RUNTIMES, RuntimeName
from models.train_config import TrainConfig
from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.settings import Settings

if TYPE_CHECKING:
    from models.data import Ecg5000
    from models.splits import Protocol

PROTOCOL = click.Choice(["seed", "ucr"])
RUNTIME = click.Choice(RUNTIMES)
TRAIN = TrainConfig()
QUANTILE = QuantileRule().quantile


def _hidden(_: click.Context, __: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError as exc:
        msg = "comma-separated integers, e.g. 64,32"
        raise click.BadParameter(msg) from exc
    if not sizes or min(sizes) < 1:
        msg = "hidden sizes must be positive"
        raise click.BadParameter(msg)
    return sizes


def _batches(_: click.Context, __: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError as exc:
        msg = "comma-separated integers"
        raise click.BadParameter(msg) from exc


def _load_data(settings: Settings) -> Ecg5000:
    from models.data import load_ecg5000  # local: torch loads only when used (fast --help)

    return load_ecg5000(settings.data_dir, settings.cache_dir)


def _emit(data: dict[str, Any], as_json: bool) -> None:

    emit(data, as_json)


@click.group(epilog=settings_epilog("model"))
def model() -> None:
    """Train, evaluate and benchmark the LSTM autoencoder.

    \b
    Examples:
      ecg-stream model evaluate --protocol seed --json --plots artifacts/plots
      ecg-stream model bench --json
      ecg-stream model train --protocol seed --epochs 150 --out models/checkpoints/mine
    """


@model.command(epilog=settings_epilog("model"))
@click.option("--protocol", type=PROTOCOL, default="seed", show_default=True)
@click.option("--seed", type=int, default=TRAIN.seed, show_default=True, help="Training seed.")
@click.option("--hidden", default=",".join(map(str, TRAIN.hidden)), show_default=True,
              callback=_hidden, help="Encoder LSTM sizes; the decoder mirrors them.")
@click.option("--epochs", type=click.IntRange(1), default=TRAIN.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=TRAIN.batch_size,
              show_default=True)
@click.option("--lr", type=float, default=TRAIN.lr, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=TRAIN.patience, show_default=True,
              help="Early stopping: epochs without a better validation loss.")
@click.option("--threads", type=click.IntRange(1), default=TRAIN.threads, show_default=True)
@click.option("--device", default=TRAIN.device, show_default=True, help="auto, cpu or cuda.")
@click.option("--lr-patience", type=click.IntRange(1), default=TRAIN.lr_patience,
              show_default=True,
              help="Halve the learning rate after this many epochs without improvement.")
@click.option("--noise", type=click.FloatRange(0.0), default=TRAIN.noise, show_default=True,
              help="Denoising: std of Gaussian noise added to training inputs (z units).")
@click.option("--max-minutes", type=click.FloatRange(0.0, min_open=True),
              default=TRAIN.max_minutes,
              help="Stop training after this wall-clock budget (best weights kept).")
@click.option("--quantile", type=float,
              help=f"Threshold = this quantile of the validation normals' errors (ECG5000's "
                   f"rule; default there {QUANTILE}).")
@click.option("--robust-k", type=click.FloatRange(0.0, min_open=True), default=6.0,
              show_default=True,
              help="With --record/--beats and no --quantile: threshold = exp(median + k robust "
                   "SDs) of the validation normals' log errors.")
@click.option("--runtime", type=RUNTIME, default="torch", show_default=True,
              help="Runtime the checkpoint recommends; every runtime gets its threshold.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--record", "records", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Train on this recording instead of ECG5000 (WFDB .hea, EDF, CSV; "
                   "repeatable): its beats cut by the worker's segmenter.")
@click.option("--lead", help="With --record: the lead (default: the reader's choice).")
@click.option("--train-s", type=click.FloatRange(1.0), default=600.0, show_default=True,
              help="With --record: train on the first seconds of each recording (normal "
                   "beats by the reference annotations when it has them); score the rest.")
@click.option("--beats", "beat_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Train on beats in a UCR-format file (label first, 140 samples; class 1 "
                   "normal; repeatable) instead of ECG5000.")
@click.option("--name", help="With --record/--beats: the data's name in the model version "
                             "(default: the first file's stem).")
@json_option("Machine-readable output.")
@click.pass_obj
def train(settings: Settings, protocol: Protocol, seed: int, hidden: tuple[int, ...], epochs: int,
          batch_size: int, lr: float, lr_patience: int, patience: int, threads: int,
          device: str, noise: float, max_minutes: float | None, quantile: float | None,
          robust_k: float, runtime: RuntimeName, out: Path, records: tuple[Path, ...],
          lead: str | None,
          train_s: float, beat_files: tuple[Path, ...], name: str | None,
          as_json: bool) -> None:
    """Train on normal beats, calibrate the threshold on validation, write a checkpoint.

    ECG5000 (--protocol) by default; a user's own recordings (--record) or beat files
    (--beats) otherwise, through the Python API of models.api (BeatAutoencoder). Every
    checkpoint's version names its data and carries the data's and the weights' hashes. A
    progress bar (epochs, losses) goes to stderr; the summary to stdout.

    \b
    Examples:
      ecg-stream model train --protocol seed --out models/checkpoints/mine
      ecg-stream model train --record ../shared/data/mitdb/100.hea --lead MLII \\
          --train-s 600 --out checkpoints/mitdb100   # then ECG_CHECKPOINT=checkpoints/mitdb100
      ecg-stream model train --beats my_beats_TRAIN.tsv --out checkpoints/mine
      ecg-stream model train --device cuda --epochs 857 --patience 150 --lr-patience 25 \\
          --out models/checkpoints/default     # the shipped checkpoint's recipe
    """
    if records or beat_files:
        if records and beat_files:
            msg = "give --record or --beats, not both"
            raise click.UsageError(msg)
        _emit(_train_own(settings, records, lead, train_s, beat_files, name, out,
                         {"hidden": hidden, "epochs": epochs, "batch_size": batch_size,
                          "lr": lr, "patience": patience, "seed": seed, "noise": noise,
                          "quantile": quantile, "robust_k": robust_k, "threads": threads,
                          "device": device,
                          "max_minutes": max_minutes, "progress": not as_json}), as_json)
        return
    from models.backends import (
        available_runtimes,  # local: torch loads only when used (fast --help)
    )
    from models.fit import fit_checkpoint  # local: torch loads only when used (fast --help)

    config = TrainConfig(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                         lr_patience=lr_patience, patience=patience, seed=seed,
                         threads=threads, device=device,
                         noise=noise, max_minutes=max_minutes)
    written = fit_checkpoint(_load_data(settings), protocol, config,
                             QuantileRule(quantile or QUANTILE), out, runtime,
                             available_runtimes(),
                             progress=not as_json)
    _emit(_summary(out, written), as_json)


def _train_own(settings: Settings, records: tuple[Path, ...], lead: str | None, train_s: float,
               beat_files: tuple[Path, ...], name: str | None, out: Path,
               options: dict[str, Any]) -> dict[str, Any]:
    """``model train --record/--beats``: :mod:`stream.runs.own_model`."""
    from models.api import BeatAutoencoder  # local: torch loads only when used (fast --help)
    from stream.runs.own_model import train_on_records, train_on_ucr

    detector = BeatAutoencoder(**options)
    if records:
        return train_on_records(settings, list(records), lead, train_s, detector, out, name)
    return train_on_ucr(list(beat_files), detector, out, name, seed=options["seed"])


def _summary(out: Path, written: dict[str, Any]) -> dict[str, Any]:
    protocol = written["training"]["protocol"]
    report = written["metrics"][protocol]
    summary = {"checkpoint": str(out), "version": written["version"],
               "best_epoch": written["training"]["best_epoch"],
               "threshold": written["threshold"]["value"], "roc_auc": report["roc_auc"],
               "baseline_1nn_roc_auc": report["baseline_1nn_roc_auc"]}
    if "seed_protocol" in report:
        summary["seed_protocol"] = report["seed_protocol"]
    return summary


@model.command(epilog=settings_epilog("model"))
@click.option("--checkpoint", "checkpoint_dir", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--quantile", type=float, default=QUANTILE, show_default=True,
              help="Threshold = this quantile of the validation normals' errors.")
@click.option("--runtime", type=RUNTIME, help="Runtime to recommend (default: unchanged).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write here instead of replacing the checkpoint.")
@json_option("Machine-readable output.")
@click.pass_obj
def calibrate(settings: Settings, checkpoint_dir: Path, quantile: float,
              runtime: RuntimeName | None, out: Path | None, as_json: bool) -> None:
    """Recalibrate every runtime's threshold and re-measure a checkpoint on this machine.

    For checkpoints trained elsewhere (e.g. ``model train --device cuda`` on a GPU machine).
    The checkpoint written is sealed again (and, for a shipped one, pinned again).

    \b
    Example:
      ecg-stream model calibrate --checkpoint models/checkpoints/default --json
    """
    from models.backends import (
        available_runtimes,  # local: torch loads only when used (fast --help)
    )
    from models.fit import recalibrate_checkpoint  # local: torch loads only when used (fast --help)

    target = out or checkpoint_dir
    written = recalibrate_checkpoint(_load_data(settings), checkpoint_dir, QuantileRule(quantile),
                                     target, runtime, available_runtimes())
    _emit(_summary(target, written), as_json)


@model.command(epilog=settings_epilog("model"))
@click.option("--checkpoint", "checkpoint_dir", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path))
@json_option("Machine-readable output.")
def seal(checkpoint_dir: Path, as_json: bool) -> None:
    """Seal a checkpoint after a deliberate edit of its config.json (or an old, unsealed one).

    Checks the weights against their sha256 and every value as loading does, then writes
    the new seal into config.json and prints it (pin it with ECG_CHECKPOINT_SHA256). It
    does not change the pins of the shipped checkpoints.

    \b
    Example:
      ecg-stream model seal --checkpoint models/checkpoints/mine
    """
    from models.checkpoint import seal_checkpoint  # local: torch loads only when used (fast --help)

    _emit({"checkpoint": str(checkpoint_dir), "sha256": seal_checkpoint(checkpoint_dir)},
          as_json)


@model.command(epilog=settings_epilog("model"))
@click.option("--protocol", type=PROTOCOL, default="seed", show_default=True)
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Checkpoint directory (default: the shipped one for the protocol).")
@click.option("--runtime", type=RUNTIME, help="Default: the checkpoint's recommended runtime.")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG plots to this directory.")
@json_option("Machine-readable output.")
@click.pass_obj
def evaluate(settings: Settings, protocol: Protocol, checkpoint_dir: Path | None,
             runtime: RuntimeName | None, plots: Path | None, as_json: bool) -> None:
    """Offline metrics of a checkpoint and of the 1-NN baseline on a protocol's test split.

    \b
    Examples:
      ecg-stream model evaluate --protocol seed --json
      ecg-stream model evaluate --protocol ucr --checkpoint models/checkpoints/ucr
      ecg-stream model evaluate --plots artifacts/plots    # ROC, PR, histogram, examples
    """
    from models.report import run_evaluation  # local: torch loads only when used (fast --help)

    directory = checkpoint_dir or settings.checkpoint
    report = run_evaluation(_load_data(settings), protocol, directory, runtime, plots)
    _emit(report, as_json)


@model.command(epilog=settings_epilog("model"))
@click.option("--batches", default="1,2,4,8,16,32,64,128,256,512", show_default=True,
              callback=_batches)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="Intra-op threads of the measured process (1 = how the stream runs).")
@click.option("--runtime", type=RUNTIME, help="Default: the checkpoint's recommended runtime.")
@click.option("--seconds", type=float, default=1.0, show_default=True,
              help="Length of one timing window.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Timing windows per batch size; the best counts.")
@click.option("--hidden", callback=lambda c, p, v: _hidden(c, p, v) if v else None,
              help="Measure an untrained model of these sizes instead of the checkpoint "
                   "(speed does not depend on the weights).")
@click.option("--processes", type=click.IntRange(1), default=2, show_default=True,
              help="Also measure this many single-thread processes side by side (batch >= 32).")
@json_option("Machine-readable output.")
@click.pass_obj
def bench(settings: Settings, batches: tuple[int, ...], threads: int, runtime: RuntimeName | None,
          seconds: float, repeats: int, hidden: tuple[int, ...] | None, processes: int,
          as_json: bool) -> None:
    """Scorer beats/s by batch size, and the reference architecture at batch 1.

    \b
    Examples:
      ecg-stream model bench --json
      ecg-stream model bench --batches 1,64,256 --runtime onnxruntime
    """
    from models.bench import (  # local: torch loads only when used (fast --help)
        run_bench,
        untrained_detector,
    )
    from models.detector import load_detector  # local: torch loads only when used (fast --help)

    if hidden:
        detector = untrained_detector(hidden, runtime or "torch", threads)
        processes = 1
    else:
        detector = load_detector(settings.checkpoint, runtime, threads)
    checkpoint = str(settings.checkpoint) if settings.checkpoint else None
    _emit(run_bench(detector, batches, seconds, repeats, processes=processes,
                    checkpoint=checkpoint), as_json)
