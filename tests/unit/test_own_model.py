"""Own data, own models: the PyOD-style API and ``model train --record/--beats``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from click.testing import CliRunner

from models.api import BeatAutoencoder
from models.detector import load_detector
from stream.cli.base import cli
from stream.errors import DataError
from stream.runs.record_beats import record_beats
from stream.settings import Settings
from tests.synthetic_ecg import rr_series, synthesize
from tests.unit.test_cli import _registered

TINY = {"hidden": (8, 4), "epochs": 3, "patience": 3, "threads": 1, "device": "cpu"}
FS = 250.0


def _normal_beats(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 140)
    return (np.exp(-((t - 0.3) / 0.03) ** 2) + 0.3 * np.exp(-((t - 0.6) / 0.08) ** 2)
            + 0.02 * rng.standard_normal((n, 140))).astype(np.float32)


def test_the_api_fits_scores_predicts_saves_and_loads(tmp_path: Path) -> None:
    beats = _normal_beats(120)
    detector = BeatAutoencoder(**TINY).fit(beats)
    scores = detector.decision_function(beats[:10])
    assert scores.shape == (10,) and np.isfinite(detector.threshold_)
    assert set(np.unique(detector.predict(beats[:10]))) <= {0, 1}
    assert detector.labels_.shape == detector.decision_scores_.shape == (96,)  # 80 % trained
    odd = -beats[:5]  # an inverted beat is not what it learned
    assert detector.decision_function(odd).mean() > scores.mean()
    written = detector.save(tmp_path / "ck", source="test")
    assert written["version"].startswith("lstm-ae-h8-4-test-seed1-d")
    assert detector.version == written["version"]
    again = BeatAutoencoder.load(tmp_path / "ck")
    np.testing.assert_array_equal(again.decision_function(beats[:10]), scores)
    assert again.threshold_ == detector.threshold_ == load_detector(tmp_path / "ck").threshold


def test_the_api_refuses_what_it_cannot_learn_from() -> None:
    with pytest.raises(DataError, match="140"):
        BeatAutoencoder(**TINY).fit(np.zeros((50, 100)))
    with pytest.raises(DataError, match="at least 20"):
        BeatAutoencoder(**TINY).fit(_normal_beats(10))
    with pytest.raises(RuntimeError, match="not fitted"):
        BeatAutoencoder(**TINY).predict(_normal_beats(2))


def _record(tmp_path: Path) -> Path:
    """150 s of synthetic ECG at 250 Hz, annotated N, with every 15th beat marked V."""
    ecg = synthesize(rr_series([70.0], beats_each=180), FS)
    seconds = 150
    signal = ecg.signal[: int(seconds * FS)]
    peaks = ecg.r_peaks[ecg.r_peaks < len(signal) - 1]
    symbols = ["V" if i % 15 == 14 else "N" for i in range(len(peaks))]
    wfdb.wrsamp("syn", fs=FS, units=["mV"], sig_name=["MLII"], p_signal=signal[:, None],
                fmt=["16"], adc_gain=[200.0], baseline=[0], write_dir=str(tmp_path))
    wfdb.wrann("syn", "atr", peaks, symbol=symbols, fs=FS, write_dir=str(tmp_path))
    return tmp_path / "syn.hea"


def test_record_beats_are_cut_as_the_worker_cuts_and_labelled(tmp_path: Path) -> None:
    cut = record_beats(Settings(), _record(tmp_path), "MLII")
    assert cut.annotated and cut.beats.shape[1] == 140 and len(cut.beats) >= 150
    assert set(cut.symbols) <= {"N", "V", ""} and cut.symbols.count("V") >= 3
    assert np.all(np.diff(cut.times_s) > 0)
    assert cut.window(0, 60).sum() + cut.window(60, None).sum() == len(cut.beats)


def test_model_train_on_a_record_writes_a_checkpoint_of_its_own(tmp_path: Path) -> None:
    _registered()
    path = _record(tmp_path)
    out = tmp_path / "mine"
    result = CliRunner().invoke(cli, [
        "model", "train", "--record", str(path), "--lead", "MLII", "--train-s", "120",
        "--hidden", "8,4", "--epochs", "3", "--patience", "3", "--threads", "1",
        "--device", "cpu", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["version"].startswith("lstm-ae-h8-4-syn-seed1-d")
    evaluation = summary["evaluation"]
    assert evaluation["from_s"] == 120 and set(evaluation["by_symbol"]) <= {"N", "V"}
    assert "normal_flagged_percent" in evaluation and "roc_auc_normal_vs_other" in evaluation
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["training_beats"].keys() == {"N"}  # only the annotated normals
    assert config["data"]["selection"] == "reference annotations N"
    shipped = load_detector().version
    assert load_detector(out).version == summary["version"] != shipped


def test_model_train_on_ucr_beats(tmp_path: Path) -> None:
    _registered()
    normal = _normal_beats(200)
    odd = -_normal_beats(10, seed=1)
    rows = np.c_[np.r_[np.ones(200), np.full(10, 2)], np.r_[normal, odd]]
    path = tmp_path / "mine_TRAIN.tsv"
    np.savetxt(path, rows, delimiter="\t")
    result = CliRunner().invoke(cli, [
        "model", "train", "--beats", str(path), "--hidden", "8,4", "--epochs", "3",
        "--patience", "3", "--threads", "1", "--device", "cpu", "--out",
        str(tmp_path / "ck"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["version"].startswith("lstm-ae-h8-4-mineTRAIN-seed1-d")
    assert summary["evaluation"]["by_symbol"]["class2"]["beats"] == 10
