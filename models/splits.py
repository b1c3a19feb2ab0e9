"""Evaluation protocols: the reference notebook's ``seed`` split and the official ``ucr`` split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from models.data import NORMAL_CLASS, Ecg5000

Protocol = Literal["seed", "ucr"]
PROTOCOLS: tuple[Protocol, ...] = ("seed", "ucr")
SEED_SPLIT_SEED = 42
UCR_VALIDATION_SHARE = 0.2


@dataclass(frozen=True)
class Splits:
    """Arrays of one protocol; every beat array is float32 ``(n, 140)``.

    Attributes:
        name: the protocol.
        train: normal beats to fit on.
        validation: normal beats for early stopping and threshold calibration.
        test_normal: normal beats to evaluate.
        test_anomaly: anomalous beats to evaluate.
        headline_anomaly: anomalies of the headline count (seed: the first 145), else all.
    """

    name: Protocol
    train: NDArray[np.float32]
    validation: NDArray[np.float32]
    test_normal: NDArray[np.float32]
    test_anomaly: NDArray[np.float32]
    headline_anomaly: NDArray[np.float32]


def seed_splits(data: Ecg5000) -> Splits:
    """The reference notebook's split, reproduced exactly.

    Rows are TRAIN then TEST, shuffled by ``numpy.random.seed(42)`` + ``permutation(5000)``;
    normals go through ``train_test_split(test_size=0.15)`` then the held-out part through
    ``train_test_split(test_size=0.33)`` (``random_state=42``): 2481 / 293 / 145 normals.
    """
    beats = np.concatenate([data.train.beats, data.test.beats])
    labels = np.concatenate([data.train.labels, data.test.labels])
    # Same stream as the notebook's numpy.random.seed(42) + permutation, without global state.
    order = np.random.RandomState(SEED_SPLIT_SEED).permutation(len(beats))
    beats, labels = beats[order], labels[order]
    normal, anomaly = beats[labels == NORMAL_CLASS], beats[labels != NORMAL_CLASS]
    train, held_out = train_test_split(normal, test_size=0.15, random_state=SEED_SPLIT_SEED)
    validation, test = train_test_split(held_out, test_size=0.33, random_state=SEED_SPLIT_SEED)
    return Splits("seed", train, validation, test, anomaly, anomaly[: len(test)])


def ucr_splits(data: Ecg5000, validation_share: float = UCR_VALIDATION_SHARE) -> Splits:
    """Fit and calibrate on ECG5000_TRAIN's normals only; evaluate on all of ECG5000_TEST."""
    normal = data.train.beats[data.train.labels == NORMAL_CLASS]
    train, validation = train_test_split(
        normal, test_size=validation_share, random_state=SEED_SPLIT_SEED
    )
    test_normal = data.test.beats[data.test.labels == NORMAL_CLASS]
    test_anomaly = data.test.beats[data.test.labels != NORMAL_CLASS]
    return Splits("ucr", train, validation, test_normal, test_anomaly, test_anomaly)


def make_splits(data: Ecg5000, protocol: Protocol) -> Splits:
    """The splits of ``protocol`` (``seed`` or ``ucr``)."""
    return seed_splits(data) if protocol == "seed" else ucr_splits(data)
