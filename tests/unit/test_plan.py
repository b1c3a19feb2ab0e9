"""Replay plans: the seed test rows are the protocol's beats; dealing is seeded and complete."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from producers.plan import assign, patient_id, seed_test_rows, split_rows


@pytest.fixture(scope="module")
def data():
    from models.data import load_ecg5000

    directory = os.environ.get("ECG_DATA_DIR")
    assert directory, "set ECG_DATA_DIR to the ECG5000 folder (CI: ../shared/data/ecg5000)"
    return load_ecg5000(Path(directory), Path("/nonexistent-cache"))


def test_seed_test_rows_are_the_protocol_test_beats(data) -> None:
    from models.splits import seed_splits

    beats = np.concatenate([data.train.beats, data.test.beats])
    labels = np.concatenate([data.train.labels, data.test.labels])
    rows = seed_test_rows(labels)
    splits = seed_splits(data)
    assert len(rows) == 145 + 2081 == len(set(rows.tolist()))
    np.testing.assert_array_equal(beats[rows[:145]], splits.test_normal)
    np.testing.assert_array_equal(beats[rows[145:]], splits.test_anomaly)


@pytest.mark.parametrize(("split", "n"), [("ucr-test", 4500), ("all", 5000)])
def test_other_splits(split: str, n: int) -> None:
    rows = split_rows(np.ones(5000, dtype=np.int8), split)  # type: ignore[arg-type]
    assert len(rows) == n and rows[-1] == 4999


@pytest.mark.parametrize("patients", [1, 7, 32])
def test_assignment_round_robin_and_seeded(patients: int) -> None:
    rows = np.arange(100, dtype=np.int64)
    plan = assign(rows, patients, seed=3)
    assert sorted(plan.rows.tolist()) == rows.tolist()
    assert np.array_equal(plan.rows, assign(rows, patients, seed=3).rows)
    assert not np.array_equal(plan.rows, assign(rows, patients, seed=4).rows)
    for p in range(patients):
        seqs = plan.seq[plan.patient == p]
        assert seqs.tolist() == list(range(len(seqs)))


def test_laps_continue_sequences() -> None:
    rows = np.arange(10, dtype=np.int64)
    first, second = assign(rows, 3, 0, lap=0), assign(rows, 3, 0, lap=1)
    for p in range(3):
        assert second.seq[second.patient == p].min() > first.seq[first.patient == p].max()


def test_patient_id_is_stable() -> None:
    assert patient_id(7) == "patient-00007"
