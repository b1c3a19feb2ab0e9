import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from models.preprocess import resample_beat, znormalize


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


def test_one_beat_is_normalized_as_in_a_batch():
    beats = np.random.default_rng(1).normal(-2.0, 0.3, size=(4, 140))
    batch = znormalize(beats)
    for beat, expected in zip(beats, batch, strict=True):
        np.testing.assert_allclose(znormalize(beat), expected, atol=1e-6)
    assert not np.any(znormalize(np.full(140, -1.5)))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 139, 140, 141, 288, 381, 3000])
def test_resample_beat_is_the_not_a_knot_cubic_spline(n):
    beat = np.random.default_rng(n).normal(size=n)
    grid = np.linspace(0.0, n - 1.0, 140)
    if n < 4:  # too few knots for not-a-knot ends: linear
        expected = np.interp(grid, np.arange(n), beat)
    else:
        expected = CubicSpline(np.arange(n), beat, bc_type="not-a-knot")(grid)
    np.testing.assert_allclose(resample_beat(beat, 140), expected, atol=1e-12)
    np.testing.assert_allclose(resample_beat(beat, 140), expected, atol=1e-12)  # cached grid
