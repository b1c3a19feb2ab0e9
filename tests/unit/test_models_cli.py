import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from stream.cli import _register, cli

SHARED = Path(os.environ.get("ECG_DATA_DIR", Path(__file__).parents[3] / "shared/data/ecg5000"))
needs_data = pytest.mark.skipif(
    not (SHARED / "ECG5000_TEST.txt").is_file(), reason="ECG5000 not found"
)


@pytest.fixture(scope="module")
def run():
    _register()
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(cli, ["--data-dir", str(SHARED), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


@pytest.mark.parametrize("command", ["train", "evaluate", "bench"])
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
