import pytest
import torch

from models.network import REFERENCE_HIDDEN, LstmAutoencoder


@pytest.mark.parametrize("hidden", [(8,), (16, 8), (32, 16, 8)])
def test_forward_shape(hidden):
    model = LstmAutoencoder(140, hidden)
    assert model(torch.zeros(3, 140, 1)).shape == (3, 140, 1)


def test_reference_architecture_sizes():
    model = LstmAutoencoder(140, REFERENCE_HIDDEN)
    sizes = [(m.input_size, m.hidden_size) for m in (*model.encoder, *model.decoder)]
    assert sizes == [(1, 256), (256, 128), (128, 128), (128, 256)]
    assert model.output.in_features == 256 and model.output.out_features == 1
