"""Checkpoint integrity through the commands: calibrate re-seals, seal, worker start-up."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import models.checkpoint as ck
from models.checkpoint import CONFIG_FILE, DEFAULT_DIR, load_checkpoint
from stream.cli.main import cli


def _invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _seal(directory):
    return json.loads((Path(directory) / CONFIG_FILE).read_text())["seal"]["sha256"]


@pytest.fixture
def synthetic_data(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("TRAIN", 40), ("TEST", 30)):
        labels = np.where(np.arange(n) % 4 == 0, 2.0, 1.0)[:, None]
        np.savetxt(tmp_path / f"ECG5000_{split}.txt",
                   np.hstack([labels, rng.standard_normal((n, 140))]), fmt="%16.7e", delimiter="")
    return tmp_path


def test_calibrate_in_place_reseals_and_the_result_loads(synthetic_data):
    out = synthetic_data / "ck"
    _invoke("--data-dir", str(synthetic_data), "model", "train", "--protocol", "ucr",
            "--hidden", "4,2", "--epochs", "1", "--threads", "1", "--runtime", "torch",
            "--out", str(out), "--json")
    before = _seal(out)
    summary = _invoke("--data-dir", str(synthetic_data), "model", "calibrate", "--checkpoint",
                      str(out), "--quantile", "0.5", "--json")
    loaded = load_checkpoint(out)
    assert _seal(out) != before
    assert loaded.config["threshold"]["value"] == summary["threshold"]


@pytest.mark.usefixtures("require_data")
def test_calibrating_a_shipped_checkpoint_repins_it(tmp_path, monkeypatch):
    from models.calibrate import QuantileRule
    from models.data import load_ecg5000
    from models.fit import recalibrate_checkpoint

    copy, pins = tmp_path / "default", tmp_path / "PINNED.json"
    shutil.copytree(DEFAULT_DIR, copy)
    shutil.copy(ck.PINNED_FILE, pins)
    monkeypatch.setattr(ck, "SHIPPED", {"default": copy})
    monkeypatch.setattr(ck, "PINNED_FILE", pins)
    data = load_ecg5000(Path(os.environ["ECG_DATA_DIR"]), tmp_path / "cache")
    recalibrate_checkpoint(data, copy, QuantileRule(0.99), copy, None, ("torch",))
    assert ck.read_pins()["default"] == _seal(copy)
    assert load_checkpoint(copy).config["threshold"]["rule"]["quantile"] == 0.99


def test_seal_command_prints_the_digest_to_pin(tmp_path):
    copy = tmp_path / "mine"
    shutil.copytree(DEFAULT_DIR, copy)
    config = json.loads((copy / CONFIG_FILE).read_text())
    config["version"] = "mine"
    (copy / CONFIG_FILE).write_text(json.dumps(config))
    printed = _invoke("model", "seal", "--checkpoint", str(copy), "--json")
    assert printed == {"checkpoint": str(copy), "sha256": _seal(copy)}
    assert load_checkpoint(copy, expected_sha256=printed["sha256"]).config["version"] == "mine"


@pytest.mark.parametrize(
    ("edit", "env", "match"),
    [
        ({"value": 1e9}, {}, "does not match its seal"),
        ({"value": float("nan")}, {}, "does not match its seal"),
        (None, {"ECG_CHECKPOINT_SHA256": "0" * 64}, "ECG_CHECKPOINT_SHA256"),
    ],
    ids=["threshold-1e9", "threshold-nan", "pinned-digest"],
)
def test_worker_refuses_a_bad_checkpoint_with_one_line(tmp_path, edit, env, match):
    copy = tmp_path / "ck"
    shutil.copytree(DEFAULT_DIR, copy)
    if edit is not None:
        config = json.loads((copy / CONFIG_FILE).read_text())
        config["threshold"].update(edit)
        (copy / CONFIG_FILE).write_text(json.dumps(config))
    # No broker at this address: the checkpoint is checked before anything else.
    environ = {**os.environ, "ECG_CHECKPOINT": str(copy), "ECG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
               "ECG_STATE_DIR": str(tmp_path / "state"), **env}
    result = subprocess.run([sys.executable, "-m", "stream", "worker"], env=environ,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            check=False)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0]
    assert "Traceback" not in result.stderr
