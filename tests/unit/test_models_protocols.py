import os
from pathlib import Path

import numpy as np
import pytest

from models.data import load_ecg5000
from models.splits import make_splits

SHARED = Path(os.environ.get("ECG_DATA_DIR", Path(__file__).parents[3] / "shared/data/ecg5000"))
pytestmark = pytest.mark.usefixtures("require_data")


@pytest.fixture(scope="module")
def data():
    return load_ecg5000(SHARED, Path("/nonexistent"))


@pytest.mark.parametrize(
    ("protocol", "sizes"),
    [("seed", (2481, 293, 145, 2081, 145)), ("ucr", (233, 59, 2627, 1873, 1873))],
)
def test_split_sizes(data, protocol, sizes):
    s = make_splits(data, protocol)
    arrays = (s.train, s.validation, s.test_normal, s.test_anomaly, s.headline_anomaly)
    assert tuple(len(a) for a in arrays) == sizes
    assert all(a.dtype == np.float32 and a.shape[1] == 140 for a in arrays)


@pytest.mark.parametrize("protocol", ["seed", "ucr"])
def test_splits_are_deterministic_and_disjoint(data, protocol):
    first, second = make_splits(data, protocol), make_splits(data, protocol)
    np.testing.assert_array_equal(first.test_normal, second.test_normal)
    rows = {name: {a.tobytes() for a in getattr(first, name)}
            for name in ("train", "validation", "test_normal")}
    assert not rows["train"] & rows["validation"]
    assert not rows["train"] & rows["test_normal"]
    assert not rows["validation"] & rows["test_normal"]


def test_seed_headline_is_first_145_anomalies(data):
    s = make_splits(data, "seed")
    np.testing.assert_array_equal(s.headline_anomaly, s.test_anomaly[:145])


def test_seed_split_reproduces_the_notebook(data):
    from sklearn.model_selection import train_test_split

    rows = np.concatenate([data.train.beats, data.test.beats])
    labels = np.concatenate([data.train.labels, data.test.labels])
    np.random.seed(42)
    order = np.random.permutation(5000)
    normal = rows[order][labels[order] == 1]
    _, held_out = train_test_split(normal, test_size=0.15, random_state=42)
    _, test = train_test_split(held_out, test_size=0.33, random_state=42)
    np.testing.assert_array_equal(make_splits(data, "seed").test_normal, test)
