"""Checkpoints: safetensors weights plus a readable ``config.json``, loaded without pickle."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.data import sha256_file
from models.network import LstmAutoencoder
from stream.errors import CheckpointError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
DEFAULT_DIR = Path(__file__).parent / "checkpoints" / "default"
UCR_DIR = Path(__file__).parent / "checkpoints" / "ucr"
_REQUIRED = ("format_version", "version", "architecture", "threshold", "weights")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode, CPU) and its parsed JSON config."""

    model: LstmAutoencoder
    config: dict[str, Any]


def save_checkpoint(directory: Path, model: LstmAutoencoder, config: dict[str, Any]) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (with the weights' sha256) to a directory.

    Args:
        directory: created when missing; existing files are replaced.
        model: the trained network.
        config: everything but ``weights``, ``format_version`` and ``architecture``, which
            this function fills in.

    Returns:
        The directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(weights))
    full = {
        "format_version": FORMAT_VERSION,
        "architecture": {"type": "lstm_autoencoder", "seq_len": model.seq_len,
                         "hidden": [layer.hidden_size for layer in model.encoder]},
        **config,
        "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(weights)},
    }
    (directory / CONFIG_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    """Parse and check ``config.json``.

    Raises:
        CheckpointError: missing, unparsable, or lacking required keys.
    """
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = (f"cannot read checkpoint config {path}: {exc}; point --checkpoint / "
               "ECG_CHECKPOINT at a folder written by `ecg-stream model train`, or unset it "
               "for the shipped checkpoint")
        raise CheckpointError(msg) from exc
    missing = [key for key in _REQUIRED if not isinstance(config, dict) or key not in config]
    if missing:
        msg = f"checkpoint config {path} lacks {', '.join(missing)}"
        raise CheckpointError(msg)
    if config["format_version"] != FORMAT_VERSION:
        msg = f"{path}: format_version {config['format_version']}, this code reads {FORMAT_VERSION}"
        raise CheckpointError(msg)
    return config


def _load_weights(directory: Path, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        msg = f"checkpoint weights {path} missing"
        raise CheckpointError(msg)
    digest = sha256_file(path)
    if digest != config["weights"].get("sha256"):
        msg = f"checkpoint weights {path} do not match the sha256 in {CONFIG_FILE}: refused"
        raise CheckpointError(msg)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        msg = f"cannot read checkpoint weights {path}: {exc}"
        raise CheckpointError(msg) from exc


def load_checkpoint(directory: Path | None = None) -> Checkpoint:
    """Load and verify a checkpoint directory (default: the shipped one).

    Raises:
        CheckpointError: missing, corrupt or tampered files, or weights that do not fit the
            architecture in the config.
    """
    directory = Path(directory) if directory is not None else DEFAULT_DIR
    config = read_config(directory)
    state = _load_weights(directory, config)
    arch = config["architecture"]
    try:
        model = LstmAutoencoder(int(arch["seq_len"]), tuple(int(h) for h in arch["hidden"]))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        msg = f"checkpoint {directory} does not match its architecture {arch}: {exc}"
        raise CheckpointError(msg) from exc
    model.eval()
    logger.info("loaded checkpoint %s (%s)", directory, config["version"])
    return Checkpoint(model=model, config=config)
