"""Checkpoints: safetensors weights plus a readable, sealed ``config.json``, loaded without pickle.

Integrity (see docs/model.md, "Checkpoint integrity"): the seal is a sha256 over the canonical
config (without the seal) and the weights file, stored in ``config.json``; it catches
accidental corruption or an edit of either file. The shipped checkpoints' seals are also
pinned in the package (``checkpoints/PINNED.json``), so a shipped checkpoint whose files were
changed is refused even when someone re-sealed it. A user checkpoint can be pinned with
``expected_sha256`` (``ECG_CHECKPOINT_SHA256``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.data import sha256_file
from models.network import LstmAutoencoder
from models.preprocess import BEAT_LENGTH
from stream.errors import CheckpointError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"
DEFAULT_DIR = CHECKPOINTS_DIR / "default"
UCR_DIR = CHECKPOINTS_DIR / "ucr"
PINNED_FILE = CHECKPOINTS_DIR / "PINNED.json"
SHIPPED = {"default": DEFAULT_DIR, "ucr": UCR_DIR}
SEAL_TEXT = ("sha256 of the canonical config.json (sorted keys, compact separators, ASCII, "
             "without 'seal'), a NUL byte, then the bytes of model.safetensors")
NORMALIZATION = {"method": "znormalize", "beat_length": BEAT_LENGTH, "ddof": 1,
                 "text": "per beat: subtract the mean, divide by the sample std (ddof=1)"}
MAX_LAYERS, MAX_HIDDEN = 8, 4096
_REQUIRED = ("format_version", "version", "architecture", "normalization", "threshold",
             "weights", "seal")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode, CPU) and its parsed JSON config."""

    model: LstmAutoencoder
    config: dict[str, Any]


def seal_digest(config: dict[str, Any], weights: Path) -> str:
    """The seal of a checkpoint: sha256 of its canonical config (seal left out) and weights."""
    body = {key: value for key, value in config.items() if key != "seal"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=True).encode("ascii"))
    digest.update(b"\0")
    digest.update(weights.read_bytes())
    return digest.hexdigest()


_HASHES = re.compile(r"(-d[0-9a-f]{8})?-w[0-9a-f]{8}$")


def unique_version(base: str, data_sha256: str | None, weights_sha256: str) -> str:
    """``base`` and the first 8 hex digits of the training data's and the weights' sha256.

    Two checkpoints share a version only when trained on the same data with the same
    resulting weights (``lstm-ae-h64-32-seed-seed1-d7315c131-w6b1e3f0a``); a suffix already on
    ``base`` is replaced, so re-saving the same weights keeps the version.
    """
    base = _HASHES.sub("", base)
    data = f"-d{data_sha256[:8]}" if data_sha256 else ""
    return f"{base}{data}-w{weights_sha256[:8]}"


def data_digest(config: dict[str, Any]) -> str | None:
    """The sha256 of a checkpoint's training data, from its ``data`` record (None if none)."""
    data = config.get("data") or {}
    found = (data.get("checksums") or {}).get("arrays") or data.get("sha256")
    return str(found) if found else None


def save_checkpoint(directory: Path, model: LstmAutoencoder, config: dict[str, Any]) -> Path:
    """Check, write and seal ``model.safetensors`` and ``config.json`` in a directory.

    Writing into a shipped checkpoint's folder (``model train`` / ``model calibrate`` by a
    maintainer) also updates its pin in ``checkpoints/PINNED.json``.

    Args:
        directory: created when missing; existing files are replaced.
        model: the trained network.
        config: everything but ``weights``, ``format_version``, ``architecture`` and ``seal``,
            which this function fills in (``normalization`` too when absent); its
            ``version`` gets the data's and the weights' hashes (:func:`unique_version`).

    Returns:
        The directory.

    Raises:
        CheckpointError: a value the loader would refuse (e.g. a non-finite threshold);
            nothing is written then.
    """
    full = {
        "normalization": NORMALIZATION,
        **config,
        "format_version": FORMAT_VERSION,
        "architecture": {"type": "lstm_autoencoder", "seq_len": model.seq_len,
                         "hidden": [layer.hidden_size for layer in model.encoder]},
    }
    check_config(full, directory)
    check_thresholds(full, model, directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(weights))
    full["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_file(weights)}
    full["version"] = unique_version(str(full["version"]), data_digest(full),
                                     full["weights"]["sha256"])
    _write_sealed(directory, full)
    if _shipped_name(directory) is not None:
        pin_shipped(directory)
    return directory


def _write_sealed(directory: Path, config: dict[str, Any]) -> str:
    config.pop("seal", None)
    digest = seal_digest(config, directory / WEIGHTS_FILE)
    config["seal"] = {"sha256": digest, "covers": SEAL_TEXT}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return digest


def seal_checkpoint(directory: Path) -> str:
    """(Re-)seal a checkpoint whose config was edited on purpose, or an unsealed old one.

    The weights must still match the sha256 in the config and every value must pass the
    loader's checks. The pin of a shipped checkpoint is not changed: a re-sealed shipped
    checkpoint whose files differ stays refused.

    Returns:
        The new seal (the digest to pin with ``ECG_CHECKPOINT_SHA256``).

    Raises:
        CheckpointError: unreadable files, weights that do not match, or a bad value.
    """
    config = _parse(directory / CONFIG_FILE)
    config["format_version"] = FORMAT_VERSION
    config.setdefault("seal", {})
    _check_required(config, directory / CONFIG_FILE)
    check_config(config, directory)
    model = _build(directory, config, _load_weights(directory, config))
    check_thresholds(config, model, directory)
    digest = _write_sealed(directory, config)
    logger.info("sealed checkpoint %s: %s", directory, digest)
    return digest


def _parse(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = (f"cannot read checkpoint config {path}: {exc}; point --checkpoint / "
               "ECG_CHECKPOINT at a folder written by `ecg-stream model train`, or unset it "
               "for the shipped checkpoint")
        raise CheckpointError(msg) from exc
    if not isinstance(config, dict):
        msg = f"checkpoint config {path} is not a JSON object"
        raise CheckpointError(msg)
    return config


def _check_required(config: dict[str, Any], path: Path) -> None:
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        msg = f"checkpoint config {path} lacks {', '.join(missing)}"
        raise CheckpointError(msg)


def read_config(directory: Path) -> dict[str, Any]:
    """Parse ``config.json`` and check its keys and format (not its seal: see load_checkpoint).

    Raises:
        CheckpointError: missing, unparsable, lacking required keys, or another format.
    """
    path = directory / CONFIG_FILE
    config = _parse(path)
    version = config.get("format_version")
    if version == 1:
        msg = (f"{path}: format_version 1 has no seal; check the checkpoint, then seal it with "
               f"`ecg-stream model seal --checkpoint {directory}`")
        raise CheckpointError(msg)
    _check_required(config, path)
    if version != FORMAT_VERSION:
        msg = f"{path}: format_version {version}, this code reads {FORMAT_VERSION}"
        raise CheckpointError(msg)
    return config


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_config(config: dict[str, Any], directory: Path) -> None:
    """Refuse an architecture or normalization this code cannot use as the config says.

    Raises:
        CheckpointError: naming the field and the value.
    """
    arch, norm = config.get("architecture"), config.get("normalization")
    where = f"checkpoint {directory / CONFIG_FILE}"
    if not isinstance(arch, dict) or arch.get("type") != "lstm_autoencoder":
        msg = f"{where}: architecture {arch!r} is not an lstm_autoencoder"
        raise CheckpointError(msg)
    hidden = arch.get("hidden")
    if arch.get("seq_len") != BEAT_LENGTH or isinstance(arch.get("seq_len"), bool):
        msg = f"{where}: architecture.seq_len {arch.get('seq_len')!r} is not {BEAT_LENGTH}"
        raise CheckpointError(msg)
    if not (isinstance(hidden, list) and 1 <= len(hidden) <= MAX_LAYERS
            and all(_is_int(h, 1, MAX_HIDDEN) for h in hidden)):
        msg = (f"{where}: architecture.hidden {hidden!r} is not 1 to {MAX_LAYERS} sizes "
               f"of 1 to {MAX_HIDDEN}")
        raise CheckpointError(msg)
    expected = {key: NORMALIZATION[key] for key in ("method", "beat_length", "ddof")}
    if not isinstance(norm, dict) or any(norm.get(k) != v for k, v in expected.items()):
        msg = f"{where}: normalization {norm!r} is not {expected} (what the stream applies)"
        raise CheckpointError(msg)
    if not isinstance(config.get("version"), str) or not config["version"]:
        msg = f"{where}: version {config.get('version')!r} is not a non-empty string"
        raise CheckpointError(msg)


def max_score(model: LstmAutoencoder) -> float:
    """An upper bound of any score the model gives a z-normalized beat.

    A z-normalized beat (ddof=1) of n samples has ``sum |x| <= sqrt(n (n - 1))``; the LSTM's
    outputs lie in (-1, 1), so each reconstructed sample is at most ``|W|_1 + |b|`` of the
    output layer.
    """
    n = model.seq_len
    weight = model.output.weight.detach().abs().sum().item()
    bias = model.output.bias.detach().abs().sum().item()
    return math.sqrt(n * (n - 1)) + n * (weight + bias)


def check_thresholds(config: dict[str, Any], model: LstmAutoencoder, directory: Path) -> None:
    """Every threshold must be a finite number > 0 that some beat's score can exceed.

    Raises:
        CheckpointError: naming the threshold and its value.
    """
    where = f"checkpoint {directory / CONFIG_FILE}"
    found = config.get("threshold")
    block: dict[str, Any] = found if isinstance(found, dict) else {}
    by_runtime = block.get("by_runtime")
    if not isinstance(by_runtime, dict) or not by_runtime:
        msg = f"{where}: threshold.by_runtime {by_runtime!r} is not a non-empty mapping"
        raise CheckpointError(msg)
    named = {f"threshold.by_runtime.{key}": value for key, value in by_runtime.items()}
    if "value" in block:
        named["threshold.value"] = block["value"]
    ceiling = max_score(model)
    for name, value in named.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value <= 0:
            msg = f"{where}: {name} = {value!r} is not a finite number > 0"
            raise CheckpointError(msg)
        if value >= ceiling:
            msg = (f"{where}: {name} = {value!r} is above any score this model can give "
                   f"(at most {ceiling:.1f}): no beat would ever be anomalous")
            raise CheckpointError(msg)


def _load_weights(directory: Path, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        msg = f"checkpoint weights {path} missing"
        raise CheckpointError(msg)
    weights = config["weights"]
    if not isinstance(weights, dict) or sha256_file(path) != weights.get("sha256"):
        msg = f"checkpoint weights {path} do not match the sha256 in {CONFIG_FILE}: refused"
        raise CheckpointError(msg)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        msg = f"cannot read checkpoint weights {path}: {exc}"
        raise CheckpointError(msg) from exc


def _build(directory: Path, config: dict[str, Any],
           state: dict[str, torch.Tensor]) -> LstmAutoencoder:
    arch = config["architecture"]
    try:
        model = LstmAutoencoder(int(arch["seq_len"]), tuple(int(h) for h in arch["hidden"]))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        msg = f"checkpoint {directory} does not match its architecture {arch}: {exc}"
        raise CheckpointError(msg) from exc
    return model.eval()


def _shipped_name(directory: Path) -> str | None:
    resolved = directory.resolve()
    return next((name for name, path in SHIPPED.items() if path.resolve() == resolved), None)


def read_pins() -> dict[str, str]:
    """The seals of the shipped checkpoints pinned in the package, by name."""
    try:
        pins = json.loads(PINNED_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"cannot read the pinned checkpoint digests {PINNED_FILE}: {exc}"
        raise CheckpointError(msg) from exc
    return {str(key): str(value) for key, value in pins.items()}


def pin_shipped(directory: Path) -> str:
    """Pin a shipped checkpoint's current seal in ``PINNED.json`` (maintainers only)."""
    name = _shipped_name(directory)
    if name is None:
        msg = f"{directory} is not a shipped checkpoint ({', '.join(SHIPPED)})"
        raise CheckpointError(msg)
    digest = str(read_config(directory)["seal"]["sha256"])
    pins = read_pins() if PINNED_FILE.is_file() else {}
    pins[name] = digest
    PINNED_FILE.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
    logger.warning("pinned shipped checkpoint %s: %s", name, digest)
    return digest


def _verify_seal(directory: Path, config: dict[str, Any],
                 expected_sha256: str | None) -> None:
    seal = config["seal"]
    stored = seal.get("sha256") if isinstance(seal, dict) else None
    if seal_digest(config, directory / WEIGHTS_FILE) != stored:
        msg = (f"checkpoint {directory} does not match its seal: {CONFIG_FILE} or "
               f"{WEIGHTS_FILE} changed since it was written (edited or corrupted): refused")
        raise CheckpointError(msg)
    name = _shipped_name(directory)
    if name is not None and read_pins().get(name) != stored:
        msg = (f"shipped checkpoint {directory} differs from the digest pinned in "
               f"{PINNED_FILE.name}: its files were changed: refused; reinstall the package")
        raise CheckpointError(msg)
    if expected_sha256 is not None and stored != expected_sha256.lower():
        msg = (f"checkpoint {directory} has seal {stored}, not the pinned "
               f"ECG_CHECKPOINT_SHA256 {expected_sha256}: refused")
        raise CheckpointError(msg)


def load_checkpoint(directory: Path | None = None,
                    expected_sha256: str | None = None) -> Checkpoint:
    """Load and verify a checkpoint directory (default: the shipped one).

    Args:
        directory: checkpoint folder; None for ``models/checkpoints/default``.
        expected_sha256: the seal the checkpoint must have (an externally pinned digest).

    Raises:
        CheckpointError: missing, corrupt or tampered files, a seal that does not match (or
            not the pinned one), weights that do not fit the architecture, or a bad value.
    """
    directory = Path(directory) if directory is not None else DEFAULT_DIR
    config = read_config(directory)
    state = _load_weights(directory, config)
    _verify_seal(directory, config, expected_sha256)
    check_config(config, directory)
    model = _build(directory, config, state)
    check_thresholds(config, model, directory)
    logger.info("loaded checkpoint %s (%s)", directory, config["version"])
    return Checkpoint(model=model, config=config)
