"""Training: batched Adam on normal beats, early stopping on validation loss, LR schedule."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from models.network import LstmAutoencoder
from models.train_config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "pick_device", "train"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A trained network and its loss curves (mean absolute error per sample)."""

    model: LstmAutoencoder
    best_epoch: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_tensor(beats: NDArray[np.float32], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(beats, dtype=np.float32)).unsqueeze(-1).to(device)


def _epoch(
    model: nn.Module, data: torch.Tensor, optimizer: torch.optim.Optimizer,
    config: TrainConfig, generator: torch.Generator,
) -> float:
    """One pass over shuffled mini-batches; returns the mean L1 loss."""
    model.train()
    order = torch.randperm(len(data), generator=generator).to(data.device)
    total = torch.zeros((), device=data.device)
    for start in range(0, len(data), config.batch_size):
        batch = data[order[start : start + config.batch_size]]
        inputs = batch
        if config.noise > 0:
            noise = torch.randn(batch.shape, generator=generator).to(data.device)
            inputs = batch + config.noise * noise
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.l1_loss(model(inputs), batch)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        total += loss.detach() * len(batch)
    return float(total) / len(data)


@torch.inference_mode()
def _validate(model: nn.Module, data: torch.Tensor, batch_size: int = 512) -> float:
    model.eval()
    total = sum(
        nn.functional.l1_loss(model(data[i : i + batch_size]), data[i : i + batch_size],
                              reduction="sum").item()
        for i in range(0, len(data), batch_size)
    )
    return total / data.numel()


def train(
    train_beats: NDArray[np.float32], val_beats: NDArray[np.float32],
    config: TrainConfig, progress: bool = True,
) -> TrainResult:
    """Fit an autoencoder on normal beats, keeping the weights of the best validation loss.

    Deterministic on CPU for a given seed and thread count.

    Args:
        train_beats: float32 ``(n, 140)`` normal beats.
        val_beats: float32 ``(m, 140)`` normal beats for early stopping.
        config: hyper-parameters.
        progress: show a tqdm bar with the epoch losses (on stderr).
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = pick_device(config.device)
    model = LstmAutoencoder(train_beats.shape[1], config.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config.lr_factor, patience=config.lr_patience
    )
    generator = torch.Generator().manual_seed(config.seed)
    data, val = _to_tensor(train_beats, device), _to_tensor(val_beats, device)
    result = TrainResult(model=model, best_epoch=0)
    best, best_state = math.inf, copy.deepcopy(model.state_dict())
    bar = tqdm(range(1, config.epochs + 1), disable=not progress, unit="epoch")
    deadline = None if config.max_minutes is None else time.monotonic() + 60 * config.max_minutes
    for epoch in bar:
        result.train_loss.append(_epoch(model, data, optimizer, config, generator))
        result.val_loss.append(_validate(model, val))
        schedule.step(result.val_loss[-1])
        bar.set_postfix(train=f"{result.train_loss[-1]:.4f}", val=f"{result.val_loss[-1]:.4f}",
                        lr=f"{optimizer.param_groups[0]['lr']:.1e}")
        if result.val_loss[-1] < best:
            best, best_state, result.best_epoch = result.val_loss[-1], copy.deepcopy(
                model.state_dict()), epoch
        elif epoch - result.best_epoch >= config.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
            break
        if deadline is not None and time.monotonic() > deadline:
            logger.info("time budget reached at epoch %d (best %d)", epoch, result.best_epoch)
            break
    model.load_state_dict(best_state)
    model.eval()
    return result
