import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from stream.cli.main import cli

SHARED = Path(os.environ.get("ECG_DATA_DIR", Path(__file__).parents[3] / "shared/data/ecg5000"))
needs_data = pytest.mark.usefixtures("require_data")


@pytest.fixture(scope="module")
def run():
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(cli, ["--data-dir", str(SHARED), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


@pytest.mark.parametrize("command", ["train", "calibrate", "evaluate", "bench"])
def test_help(run, command):
    assert "Usage" in run("model", command, "--help")


@needs_data
def test_evaluate_json_keys(run, tmp_path):
    report = json.loads(run("model", "evaluate", "--protocol", "seed", "--json",
                            "--plots", str(tmp_path)))
    assert {"protocol", "roc_auc", "pr_auc", "precision", "recall", "f1", "threshold",
            "confusion", "seed_protocol", "baseline_1nn_roc_auc", "pr_auc_at_5pct"} <= set(report)
    assert set(report["seed_protocol"]) == {"normal_correct", "normal_total", "anomaly_correct",
                                            "anomaly_total"}
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_bench_json_keys(run):
    report = json.loads(run("model", "bench", "--json", "--batches", "1,8", "--seconds", "0.05",
                            "--repeats", "1", "--threads", "1"))
    assert {"results", "best_beats_per_s", "reference_beats_per_s", "ratio"} <= set(report)
    assert {"model", "batch", "beats_per_s"} <= set(report["results"][0])


def test_train_writes_checkpoint_from_synthetic_data(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("TRAIN", 40), ("TEST", 30)):
        labels = np.where(np.arange(n) % 4 == 0, 2.0, 1.0)[:, None]
        np.savetxt(tmp_path / f"ECG5000_{split}.txt",
                   np.hstack([labels, rng.standard_normal((n, 140))]), fmt="%16.7e", delimiter="")
    out = tmp_path / "ck"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "model", "train", "--protocol",
                                      "ucr", "--hidden", "4,2", "--epochs", "1", "--threads", "1",
                                      "--runtime", "torch", "--out", str(out), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["checkpoint"] == str(out) and (out / "model.safetensors").is_file()
    again = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "model", "calibrate",
                                     "--checkpoint", str(out), "--quantile", "0.5",
                                     "--out", str(tmp_path / "re"), "--json"],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    recalibrated = json.loads(again.output)
    assert recalibrated["checkpoint"] == str(tmp_path / "re")
    assert recalibrated["threshold"] < summary["threshold"]


@pytest.mark.parametrize("hidden", ["0,4", "a,b"])
def test_train_rejects_bad_hidden(hidden, tmp_path):
    result = CliRunner().invoke(cli, ["model", "train", "--hidden", hidden, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "hidden" in result.output.lower()
