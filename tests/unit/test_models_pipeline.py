
import numpy as np

from models.data import Ecg5000, Split
from models.detector import load_detector
from models.pipeline import fit_checkpoint
from models.runtime import RUNTIMES
from models.threshold import QuantileRule
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
