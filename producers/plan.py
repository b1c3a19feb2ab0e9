"""Which beat goes to which simulated patient, in which order (pure, seeded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

NORMAL = 1
SEED = 42
SplitName = Literal["seed-test", "ucr-test", "all"]
SPLITS: tuple[SplitName, ...] = ("seed-test", "ucr-test", "all")
N_TRAIN_ROWS = 500


def seed_test_rows(labels: NDArray[np.integer]) -> NDArray[np.int64]:
    """Rows (into TRAIN then TEST, 0..4999) of the seed protocol's test set.

    The 145 test normals and all 2081 anomalies, selected exactly as ``models.splits``
    selects their arrays, so offline evaluation and replay see the same beats.
    """
    order = np.random.RandomState(SEED).permutation(len(labels))
    shuffled = labels[order]
    normal_rows, anomaly_rows = order[shuffled == NORMAL], order[shuffled != NORMAL]
    from sklearn.model_selection import train_test_split  # local: keeps --help fast

    _, held_out = train_test_split(normal_rows, test_size=0.15, random_state=SEED)
    _, test = train_test_split(held_out, test_size=0.33, random_state=SEED)
    return np.concatenate([test, anomaly_rows]).astype(np.int64)


def split_rows(labels: NDArray[np.integer], split: SplitName) -> NDArray[np.int64]:
    """Rows of ``split``: ``seed-test`` (default; 2226 beats), ``ucr-test`` (4500) or ``all``."""
    if split == "seed-test":
        return seed_test_rows(labels)
    if split == "ucr-test":
        return np.arange(N_TRAIN_ROWS, len(labels), dtype=np.int64)
    return np.arange(len(labels), dtype=np.int64)


@dataclass(frozen=True)
class Assignment:
    """Beats in send order with their patient and per-patient sequence number.

    Attributes:
        rows: source row of each beat (into TRAIN then TEST), shape ``(n,)``.
        patient: patient index of each beat, shape ``(n,)``.
        seq: beat number within its patient, shape ``(n,)``.
    """

    rows: NDArray[np.int64]
    patient: NDArray[np.int64]
    seq: NDArray[np.int64]


def assign(rows: NDArray[np.int64], patients: int, seed: int, lap: int = 0) -> Assignment:
    """Shuffle ``rows`` with ``seed`` (and the loop ``lap``), then deal them round-robin.

    Beat ``i`` of the shuffled order goes to patient ``i % patients`` with sequence number
    ``lap * ceil(n / patients) + i // patients``, so laps continue each patient's sequence.
    """
    rng = np.random.default_rng([seed, lap])
    shuffled = rows[rng.permutation(len(rows))]
    index = np.arange(len(shuffled))
    per_patient = -(-len(rows) // patients)
    return Assignment(shuffled, index % patients, lap * per_patient + index // patients)


def patient_id(index: int) -> str:
    """The id (and Kafka key) of simulated patient ``index``."""
    return f"patient-{index:05d}"
