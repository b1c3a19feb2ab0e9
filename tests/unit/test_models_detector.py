import numpy as np
import pytest
import torch

from models.checkpoint import save_checkpoint
from models.detector import Detector, load_detector
from models.network import LstmAutoencoder
from stream.errors import CheckpointError

# The test install includes the optional ``onnx`` extra: a missing onnxruntime fails here.
ORT = pytest.param("onnxruntime")
RUNTIMES = ["torch", "torch-bf16", ORT]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LstmAutoencoder(140, (8, 4)).eval()


@pytest.fixture(scope="module")
def beats():
    return np.random.default_rng(0).standard_normal((37, 140)).astype(np.float32)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_contract_shapes_finite_deterministic(model, beats, runtime):
    detector = Detector(model, 1.0, "t", runtime, batch_size=16)
    scores = detector.score(beats)
    assert scores.shape == (37,) and scores.dtype == np.float32
    assert np.isfinite(scores).all() and (scores >= 0).all()
    np.testing.assert_array_equal(scores, detector.score(beats))
    assert detector.score(beats[0]).shape == (1,)
    assert detector.score(np.zeros((0, 140), np.float32)).shape == (0,)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_batching_does_not_change_scores(model, beats, runtime):
    detector = Detector(model, 1.0, "t", runtime, batch_size=5)
    chunked = detector.score(beats)
    single = np.concatenate([detector.score(b[None]) for b in beats[:12]])
    np.testing.assert_allclose(chunked[:12], single, rtol=1e-5)
    detector.batch_size = 64
    np.testing.assert_allclose(detector.score(beats), chunked, rtol=1e-5)


@pytest.mark.parametrize(
    ("runtime", "rtol"),
    [("onnxruntime", 1e-5), ("torch-bf16", 0.05)],
)
def test_runtimes_agree_with_torch(model, beats, runtime, rtol):
    reference = Detector(model, 1.0, "t", "torch").score(beats)
    np.testing.assert_allclose(Detector(model, 1.0, "t", runtime).score(beats), reference,
                               rtol=rtol)


def test_scores_are_l1_reconstruction_errors(model, beats):
    detector = Detector(model, 1.0, "t")
    expected = np.abs(detector.reconstruct(beats) - beats).sum(axis=1)
    np.testing.assert_allclose(detector.score(beats), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 139), np.float32), np.zeros((2, 140, 1), np.float32),
            np.full((1, 140), np.nan, np.float32)],
)
def test_bad_input_is_rejected(model, bad):
    with pytest.raises(ValueError):
        Detector(model, 1.0, "t").score(bad)


def test_num_threads_is_settable(model):
    detector = Detector(model, 1.0, "t", num_threads=1)
    detector.num_threads = 2
    assert detector.num_threads == 2 and torch.get_num_threads() == 2
    with pytest.raises(ValueError):
        detector.num_threads = 0
    detector.num_threads = 1


def test_save_load_round_trip(model, beats, tmp_path):
    config = {"version": "v1", "runtime": "torch",
              "threshold": {"value": 3.5, "by_runtime": {"torch": 3.5, "onnxruntime": 3.6}},
              "training": {"protocol": "seed"}}
    directory = save_checkpoint(tmp_path / "ck", model, config)
    loaded = load_detector(directory)
    assert (loaded.threshold, loaded.runtime_name) == (3.5, "torch")
    assert loaded.version.startswith("v1-w")
    np.testing.assert_array_equal(loaded.score(beats), Detector(model, 0.0, "x").score(beats))
    assert load_detector(directory, runtime="onnxruntime").threshold == 3.6
    with pytest.raises(CheckpointError, match="no threshold calibrated"):
        load_detector(directory, runtime="torch-bf16")


def test_shipped_detector_defaults():
    detector = load_detector()
    assert detector.threshold > 0 and detector.version
    assert detector.score(np.zeros((3, 140), np.float32)).shape == (3,)


def test_scores_do_not_depend_on_batching() -> None:
    """A stream batches beats by arrival; a beat's score must not depend on its batch."""
    import numpy as np

    from models.detector import load_detector

    beats = np.random.default_rng(3).standard_normal((40, 140)).astype(np.float32)
    detector = load_detector(None, runtime="torch")
    whole = detector.score(beats)
    for size in (1, 2, 7):
        parts = np.concatenate([detector.score(beats[i:i + size]) for i in range(0, 40, size)])
        np.testing.assert_array_equal(parts, whole)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_warm_up_changes_no_score(model, beats, runtime):
    detector = Detector(model, 1.0, "t", runtime, batch_size=16)
    before = detector.score(beats)
    detector.warm_up(128)
    detector.warm_up(1)
    np.testing.assert_array_equal(detector.score(beats), before)


class _ShapeProbe:
    """A runtime that records the batch sizes it is called with (score: the row sum)."""

    name = "probe"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, beats: np.ndarray) -> np.ndarray:
        self.sizes.append(len(beats))
        return beats.sum(axis=1)

    def set_threads(self, num_threads: int) -> None:
        pass


def test_ragged_batches_reach_the_runtime_as_few_sizes(model, beats):
    """Runtimes keep memory per input shape (torch's CPU LSTM ~1.3 MiB a batch size, never
    released): every batch size a stream happens to form must not become a new shape."""
    detector = Detector(model, 1.0, "t", batch_size=128)
    probe = detector._runtime = _ShapeProbe()
    rows = np.tile(beats, (4, 1))
    for n in range(1, 129):
        np.testing.assert_array_equal(detector.score(rows[:n]), rows[:n].sum(axis=1))
    expected = {2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128}
    assert set(probe.sizes) == expected
    probe.sizes.clear()
    detector.warm_up(128)
    assert set(probe.sizes) == expected
