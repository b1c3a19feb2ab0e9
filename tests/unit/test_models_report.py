import pytest

from models.checkpoint import DEFAULT_DIR
from models.report import checkpoint_for
from stream.errors import CheckpointError


def test_default_checkpoint_per_protocol():
    assert checkpoint_for("seed", None) == DEFAULT_DIR


def test_checkpoint_of_another_protocol_is_refused():
    with pytest.raises(CheckpointError, match="trained on protocol 'seed'"):
        checkpoint_for("ucr", DEFAULT_DIR)
