import json

import pytest
import torch

from models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint, save_checkpoint
from models.network import LstmAutoencoder
from stream.errors import CheckpointError


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = LstmAutoencoder(140, (8, 4)).eval()
    config = {"version": "test", "threshold": {"value": 1.0, "by_runtime": {"torch": 1.0}}}
    return save_checkpoint(tmp_path / "ck", model, config), model


def test_round_trip_restores_weights_and_config(saved):
    directory, model = saved
    loaded = load_checkpoint(directory)
    assert loaded.config["version"] == "test"
    assert loaded.config["architecture"] == {"type": "lstm_autoencoder", "seq_len": 140,
                                             "hidden": [8, 4]}
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_config(directory, change):
    config = json.loads((directory / CONFIG_FILE).read_text())
    change(config)
    (directory / CONFIG_FILE).write_text(json.dumps(config))


def _set_hidden_and_hash(directory):
    from models.data import sha256_file

    def change(config):
        config["architecture"]["hidden"] = [16, 4]
        config["weights"]["sha256"] = sha256_file(directory / WEIGHTS_FILE)

    _edit_config(directory, change)


def _garbage_weights_with_hash(directory):
    from models.data import sha256_file

    (directory / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    _edit_config(directory, lambda c: c["weights"].update(sha256=sha256_file(
        directory / WEIGHTS_FILE)))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda d: _flip_byte(d / WEIGHTS_FILE), "do not match the sha256"),
        (lambda d: (d / WEIGHTS_FILE).unlink(), "missing"),
        (lambda d: (d / CONFIG_FILE).write_text("{not json"), "cannot read checkpoint config"),
        (lambda d: (d / CONFIG_FILE).unlink(), "cannot read checkpoint config"),
        (lambda d: _edit_config(d, lambda c: c.pop("threshold")), "lacks threshold"),
        (lambda d: _edit_config(d, lambda c: c.update(format_version=99)), "format_version"),
        (_set_hidden_and_hash, "does not match its architecture"),
        (_garbage_weights_with_hash, "cannot read checkpoint weights"),
    ],
    ids=["tampered", "no-weights", "bad-json", "no-config", "no-threshold", "format",
         "architecture", "corrupt-weights"],
)
def test_bad_checkpoints_are_refused(saved, damage, match):
    directory, _ = saved
    damage(directory)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(directory)


def test_shipped_checkpoint_loads_without_pickle(monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = load_checkpoint()
    assert loaded.config["training"]["protocol"] == "seed"
