"""Training hyper-parameters and their defaults (torch-free, so the CLI can show them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (all recorded in the checkpoint).

    ``noise`` > 0 trains a denoising autoencoder: Gaussian noise of that standard deviation
    is added to each input beat, the target stays the clean beat. ``max_minutes`` stops
    training after the epoch that passes that wall-clock budget (best weights kept).
    """

    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 150
    batch_size: int = 32
    lr: float = 2e-3
    lr_factor: float = 0.5
    lr_patience: int = 6
    patience: int = 20
    grad_clip: float = 1.0
    seed: int = 1
    threads: int = 2
    device: str = "auto"
    noise: float = 0.0
    max_minutes: float | None = None
