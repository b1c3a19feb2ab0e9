import json
import math
import re
import shutil

import pytest
import torch

import models.checkpoint as ck
from models.checkpoint import (
    CONFIG_FILE,
    DEFAULT_DIR,
    WEIGHTS_FILE,
    load_checkpoint,
    save_checkpoint,
    seal_checkpoint,
    unique_version,
)
from models.data import sha256_file
from models.network import LstmAutoencoder
from stream.errors import CheckpointError


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = LstmAutoencoder(140, (8, 4)).eval()
    config = {"version": "test", "threshold": {"value": 1.0, "by_runtime": {"torch": 1.0}}}
    return save_checkpoint(tmp_path / "ck", model, config), model


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of the shipped checkpoint that the loader treats as shipped (its pin applies)."""
    directory = tmp_path / "default"
    shutil.copytree(DEFAULT_DIR, directory)
    pins = tmp_path / "PINNED.json"
    shutil.copy(ck.PINNED_FILE, pins)
    monkeypatch.setattr(ck, "SHIPPED", {"default": directory})
    monkeypatch.setattr(ck, "PINNED_FILE", pins)
    return directory


def test_round_trip_restores_weights_and_config(saved):
    directory, model = saved
    loaded = load_checkpoint(directory)
    weights = loaded.config["weights"]["sha256"]
    assert loaded.config["version"] == f"test-w{weights[:8]}"  # no data record: weights only
    assert loaded.config["architecture"] == {"type": "lstm_autoencoder", "seq_len": 140,
                                             "hidden": [8, 4]}
    assert loaded.config["format_version"] == 2
    assert loaded.config["seal"]["sha256"] == ck.seal_digest(loaded.config,
                                                             directory / WEIGHTS_FILE)
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


def _edit_and_reseal(directory, change):
    """What someone who knows the format does: edit, fix the weights hash, re-seal by hand."""

    def both(config):
        change(config)
        config["weights"]["sha256"] = sha256_file(directory / WEIGHTS_FILE)

    _edit_config(directory, both)
    _edit_config(directory, lambda c: c.update(seal={
        "sha256": ck.seal_digest(c, directory / WEIGHTS_FILE), "covers": ck.SEAL_TEXT}))


def _flip_byte_and_rehash(directory):
    _flip_byte(directory / WEIGHTS_FILE)
    _edit_config(directory, lambda c: c["weights"].update(
        sha256=sha256_file(directory / WEIGHTS_FILE)))


def _set_hidden(config):
    config["architecture"]["hidden"] = [16, 4]


def _garbage_weights_resealed(directory):
    (directory / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    _edit_and_reseal(directory, lambda c: None)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda d: _flip_byte(d / WEIGHTS_FILE), "do not match the sha256"),
        (_flip_byte_and_rehash, "does not match its seal"),
        (lambda d: (d / WEIGHTS_FILE).unlink(), "missing"),
        (lambda d: (d / CONFIG_FILE).write_text("{not json"), "cannot read checkpoint config"),
        (lambda d: (d / CONFIG_FILE).write_text("[1]"), "not a JSON object"),
        (lambda d: (d / CONFIG_FILE).unlink(), "cannot read checkpoint config"),
        (lambda d: _edit_config(d, lambda c: c.pop("threshold")), "lacks threshold"),
        (lambda d: _edit_config(d, lambda c: c.pop("seal")), "lacks seal"),
        (lambda d: _edit_config(d, lambda c: c.update(format_version=99)), "format_version"),
        (lambda d: _edit_config(d, lambda c: c.update(format_version=1)), "model seal"),
        (lambda d: _edit_config(d, lambda c: c.update(created_utc="x")), "match its seal"),
        (lambda d: _edit_and_reseal(d, _set_hidden), "does not match its architecture"),
        (_garbage_weights_resealed, "cannot read checkpoint weights"),
    ],
    ids=["flipped-weight-byte", "flipped-and-rehashed", "no-weights", "bad-json", "not-object",
         "no-config", "no-threshold", "no-seal", "format", "format-1", "edited-field",
         "architecture", "corrupt-weights"],
)
def test_bad_checkpoints_are_refused(saved, damage, match):
    directory, _ = saved
    damage(directory)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(directory)


def _set_threshold(value):
    def change(config):
        config["threshold"]["value"] = value
        config["threshold"]["by_runtime"]["torch"] = value

    return change


BAD_THRESHOLDS = [1e9, -1.0, 0.0, math.nan, math.inf, "45", True]


@pytest.mark.parametrize("value", BAD_THRESHOLDS)
def test_an_edited_threshold_breaks_the_seal(shipped_copy, value):
    _edit_config(shipped_copy, _set_threshold(value))
    with pytest.raises(CheckpointError, match="does not match its seal") as info:
        load_checkpoint(shipped_copy)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "match"),
    [(1e9, "above any score this model can give"), (-1.0, "not a finite number > 0"),
     (0.0, "not a finite number > 0"), (math.nan, "not a finite number > 0"),
     (math.inf, "not a finite number > 0"), ("45", "not a finite number > 0"),
     (True, "not a finite number > 0")],
)
def test_a_resealed_bad_threshold_is_refused(saved, value, match):
    directory, _ = saved
    _edit_and_reseal(directory, _set_threshold(value))
    with pytest.raises(CheckpointError, match=rf"threshold\.\S+ = .*{match}"):
        load_checkpoint(directory)
    with pytest.raises(CheckpointError, match=match):
        seal_checkpoint(directory)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c["architecture"].update(type="transformer"), "not an lstm_autoencoder"),
        (lambda c: c["architecture"].update(seq_len=100), "seq_len 100 is not 140"),
        (lambda c: c["architecture"].update(hidden=[0, 4]), "architecture.hidden"),
        (lambda c: c["architecture"].update(hidden=[10**6]), "architecture.hidden"),
        (lambda c: c["architecture"].update(hidden=[8] * 20), "architecture.hidden"),
        (lambda c: c["architecture"].update(hidden="8,4"), "architecture.hidden"),
        (lambda c: c["normalization"].update(method="minmax"), "normalization"),
        (lambda c: c["normalization"].update(ddof=0), "normalization"),
        (lambda c: c["normalization"].update(beat_length=100), "normalization"),
        (lambda c: c.update(version=""), "version"),
        (lambda c: c["threshold"].update(by_runtime={}), "by_runtime"),
    ],
    ids=["type", "seq-len", "zero-size", "huge-size", "too-deep", "not-list", "norm-method",
         "norm-ddof", "norm-length", "version", "no-runtimes"],
)
def test_resealed_insane_values_are_refused(saved, change, match):
    directory, _ = saved
    _edit_and_reseal(directory, change)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(directory)


def test_save_refuses_a_bad_threshold_and_writes_nothing(tmp_path):
    model = LstmAutoencoder(140, (8, 4)).eval()
    with pytest.raises(CheckpointError, match="not a finite number"):
        save_checkpoint(tmp_path / "ck", model, {"version": "v", "threshold": {
            "value": math.nan, "by_runtime": {"torch": math.nan}}})
    assert not (tmp_path / "ck").exists()


def test_seal_command_reseals_a_deliberate_edit(saved):
    directory, _ = saved
    _edit_config(directory, lambda c: c.update(version="renamed"))
    with pytest.raises(CheckpointError, match="seal"):
        load_checkpoint(directory)
    digest = seal_checkpoint(directory)
    assert load_checkpoint(directory, expected_sha256=digest).config["version"] == "renamed"


def test_seal_upgrades_an_unsealed_format_1_checkpoint(saved):
    directory, _ = saved
    _edit_config(directory, lambda c: (c.pop("seal"), c.pop("normalization"),
                                       c.update(format_version=1)))
    with pytest.raises(CheckpointError, match="model seal --checkpoint"):
        load_checkpoint(directory)
    with pytest.raises(CheckpointError, match="lacks normalization"):
        seal_checkpoint(directory)
    _edit_config(directory, lambda c: c.update(normalization=ck.NORMALIZATION))
    seal_checkpoint(directory)
    assert load_checkpoint(directory).config["format_version"] == 2


def test_seal_refuses_weights_that_do_not_match(saved):
    directory, _ = saved
    _flip_byte(directory / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="do not match the sha256"):
        seal_checkpoint(directory)


def test_externally_pinned_digest(saved):
    directory, _ = saved
    digest = json.loads((directory / CONFIG_FILE).read_text())["seal"]["sha256"]
    assert load_checkpoint(directory, expected_sha256=digest.upper()).config["version"].startswith(
        "test-w")
    with pytest.raises(CheckpointError, match="ECG_CHECKPOINT_SHA256"):
        load_checkpoint(directory, expected_sha256="0" * 64)


def test_shipped_checkpoints_match_their_pins():
    pins = ck.read_pins()
    assert set(pins) == {"default", "ucr"}
    for name, directory in ck.SHIPPED.items():
        assert load_checkpoint(directory).config["seal"]["sha256"] == pins[name]


def test_a_resealed_tampered_shipped_checkpoint_is_refused_by_the_pin(shipped_copy):
    assert load_checkpoint(shipped_copy).config["version"]  # the copy passes as it is
    _edit_config(shipped_copy, _set_threshold(40.0))  # plausible, but not the shipped one
    seal_checkpoint(shipped_copy)
    with pytest.raises(CheckpointError, match="differs from the digest pinned"):
        load_checkpoint(shipped_copy)
    _flip_byte(shipped_copy / WEIGHTS_FILE)  # weights too, with their hash and seal redone
    _edit_and_reseal(shipped_copy, lambda c: None)
    with pytest.raises(CheckpointError, match="differs from the digest pinned"):
        load_checkpoint(shipped_copy)


def test_shipped_checkpoint_loads_without_pickle(monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = load_checkpoint()
    assert loaded.config["training"]["protocol"] == "seed"


def test_versions_carry_the_data_and_weights_hashes(tmp_path):
    torch.manual_seed(0)
    config = {"version": "mine", "threshold": {"value": 1.0, "by_runtime": {"torch": 1.0}},
              "data": {"sha256": "ab" * 32}}
    one = load_checkpoint(save_checkpoint(tmp_path / "a", LstmAutoencoder(140, (8, 4)),
                                          dict(config))).config
    assert one["version"] == f"mine-d{'ab' * 4}-w{one['weights']['sha256'][:8]}"
    torch.manual_seed(1)  # other weights, same name and data: another version
    two = load_checkpoint(save_checkpoint(tmp_path / "b", LstmAutoencoder(140, (8, 4)),
                                          dict(config))).config
    assert two["version"] != one["version"]
    assert unique_version(one["version"], "ab" * 32, one["weights"]["sha256"]) == one["version"]
    shipped = {load_checkpoint(DEFAULT_DIR).config["version"],
               load_checkpoint(DEFAULT_DIR.parent / "ucr").config["version"]}
    assert len(shipped) == 2 and one["version"] not in shipped
    assert all(re.search(r"-d[0-9a-f]{8}-w[0-9a-f]{8}$", v) for v in shipped)
