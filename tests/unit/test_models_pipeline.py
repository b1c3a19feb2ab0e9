
import numpy as np

from models.backends import RUNTIMES
from models.calibrate import QuantileRule
from models.data import Ecg5000, Split
from models.detector import load_detector
from models.fit import fit_checkpoint
from models.train import TrainConfig


def _synthetic():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 140)

    def split(n):
        labels = np.where(np.arange(n) % 3 == 0, 2, 1).astype(np.int8)
        beats = np.sin(t + rng.uniform(0, 0.3, (n, 1))) + 0.05 * rng.standard_normal((n, 140))
        beats[labels != 1] = rng.standard_normal((int((labels != 1).sum()), 140))
        return Split(beats.astype(np.float32), labels)

    return Ecg5000(train=split(90), test=split(60), checksums={"arrays": "x"}, source=None)


def test_fit_checkpoint_writes_calibrated_loadable_checkpoint(tmp_path):
    config = TrainConfig(hidden=(8, 4), epochs=2, batch_size=16, threads=1)
    runtimes = RUNTIMES  # the test install includes onnxruntime (the onnx extra)
    written = fit_checkpoint(_synthetic(), "ucr", config, QuantileRule(0.99), tmp_path / "ck",
                             "torch", runtimes, progress=False)
    assert set(written["threshold"]["by_runtime"]) == set(runtimes)
    assert written["training"]["protocol"] == "ucr"
    assert written["metrics"]["ucr"]["protocol"] == "ucr"
    detector = load_detector(tmp_path / "ck")
    assert detector.threshold == written["threshold"]["value"]


def test_recalibrate_checkpoint_rederives_thresholds_and_keeps_weights(tmp_path):
    from models.checkpoint import load_checkpoint
    from models.fit import recalibrate_checkpoint

    data = _synthetic()
    config = TrainConfig(hidden=(8, 4), epochs=2, batch_size=16, threads=1)
    fit_checkpoint(data, "ucr", config, QuantileRule(0.99), tmp_path / "a", "torch", ("torch",),
                   progress=False)
    written = recalibrate_checkpoint(data, tmp_path / "a", QuantileRule(0.5), tmp_path / "b",
                                     None, RUNTIMES)
    assert set(written["threshold"]["by_runtime"]) == set(RUNTIMES)
    assert written["threshold"]["rule"]["quantile"] == 0.5
    assert written["threshold"]["value"] < load_detector(tmp_path / "a").threshold
    before, after = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert after.config["training"] == before.config["training"]
    for name, tensor in before.model.state_dict().items():
        assert (after.model.state_dict()[name] == tensor).all()


def test_recalibrate_refuses_a_checkpoint_trained_on_other_data(tmp_path):
    import dataclasses

    import pytest

    from models.fit import recalibrate_checkpoint
    from stream.errors import CheckpointError

    data = _synthetic()
    config = TrainConfig(hidden=(8, 4), epochs=1, batch_size=16, threads=1)
    fit_checkpoint(data, "ucr", config, QuantileRule(0.99), tmp_path / "a", "torch", ("torch",),
                   progress=False)
    other = dataclasses.replace(data, checksums={"arrays": "y"})
    with pytest.raises(CheckpointError, match="other data"):
        recalibrate_checkpoint(other, tmp_path / "a", QuantileRule(0.99), tmp_path / "b", None,
                               ("torch",))


def test_denoising_and_time_budget_options_train(tmp_path):
    config = TrainConfig(hidden=(8, 4), epochs=50, batch_size=16, threads=1, noise=0.1,
                         max_minutes=1e-9)
    written = fit_checkpoint(_synthetic(), "ucr", config, QuantileRule(0.99), tmp_path / "ck",
                             "torch", ("torch",), progress=False)
    assert written["training"]["epochs_run"] == 1  # budget passed after the first epoch
    assert written["training"]["config"]["noise"] == 0.1
