import numpy as np
import pytest

from models.preprocess import znormalize


@pytest.mark.parametrize("shape", [(140,), (5, 140), (3, 200)])
def test_znormalize_mean_zero_sample_std_one(shape):
    beats = np.random.default_rng(0).normal(3.0, 7.0, size=shape)
    out = znormalize(beats)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=-1, ddof=1), 1.0, atol=1e-6)


def test_flat_beat_becomes_zeros():
    assert not np.any(znormalize(np.full((2, 140), 4.2)))


def test_idempotent_like_ecg5000():
    beat = znormalize(np.sin(np.linspace(0, 6, 140)))
    np.testing.assert_allclose(znormalize(beat), beat, atol=1e-6)
