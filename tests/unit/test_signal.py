"""Tests of producers.stitch: stitching with and without HRV, and framing."""

from __future__ import annotations

import numpy as np
import pytest

from producers.stitch import DEFAULT_HRV, JOIN_RAW, frames, stitch


def _beats(n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 140)).astype(np.float32)


@pytest.mark.parametrize("hrv", [None, DEFAULT_HRV, (140, 140), (60, 300)])
def test_stitch_onsets_and_lengths_tile_the_signal(hrv: tuple[int, int] | None) -> None:
    out = stitch(_beats(), np.random.default_rng(1), hrv)
    assert out.signal.dtype == np.float32 and out.signal.ndim == 1
    assert out.signal.size == out.lengths.sum()
    assert np.array_equal(out.onsets, np.concatenate([[0], np.cumsum(out.lengths)[:-1]]))
    if hrv is not None:
        assert out.lengths.min() >= hrv[0] and out.lengths.max() <= hrv[1]


def test_stitch_raw_without_hrv_is_concatenation() -> None:
    beats = _beats()
    out = stitch(beats, np.random.default_rng(1), None, join=JOIN_RAW)
    assert np.array_equal(out.signal, beats.ravel())


def test_stitch_level_joins_shift_each_beat_by_a_constant() -> None:
    beats = _beats(400)
    out = stitch(beats, np.random.default_rng(1), None)
    pieces = out.signal.reshape(400, 140).astype(np.float64)
    shift = pieces - beats
    assert np.allclose(shift, shift[:, :1], atol=1e-4)  # one constant per beat
    assert shift[0, 0] == 0.0
    assert np.abs(shift).max() < 40.0  # pulled back toward 0: no unbounded drift
    slope = 0.5 * ((beats[:-1, -1] - beats[:-1, -2]) + (beats[1:, 1] - beats[1:, 0]))
    level = np.abs(pieces[1:, 0] - pieces[:-1, -1] - slope)
    raw = np.abs(beats[1:, 0] - beats[:-1, -1] - slope)
    assert np.median(level) < 0.5 * np.median(raw)


def test_stitch_rejects_unknown_join() -> None:
    with pytest.raises(ValueError, match="join"):
        stitch(_beats(), np.random.default_rng(0), None, join="smooth")


def test_stitch_resampled_beat_keeps_end_points() -> None:
    beats = _beats(1)
    out = stitch(beats, np.random.default_rng(2), (150, 150))
    assert out.signal[0] == pytest.approx(beats[0, 0])
    assert out.signal[-1] == pytest.approx(beats[0, -1])


@pytest.mark.parametrize("hrv", [(10, 20), (150, 120)])
def test_stitch_rejects_bad_range(hrv: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="hrv"):
        stitch(_beats(), np.random.default_rng(0), hrv)


@pytest.mark.parametrize(("size", "start_seq"), [(1, 0), (64, 0), (256, 7), (1000, 3)])
def test_frames_cover_signal_in_order(size: int, start_seq: int) -> None:
    signal = np.arange(700, dtype=np.float32)
    got = list(frames(signal, size, start_seq))
    assert [seq for seq, _, _ in got] == list(range(start_seq, start_seq + len(got)))
    assert np.array_equal(np.concatenate([s for _, _, s in got]), signal)
    assert all(start == (seq - start_seq) * size for seq, start, _ in got)


def test_frames_rejects_zero_size() -> None:
    with pytest.raises(ValueError, match="frame_size"):
        list(frames(np.zeros(3), 0))
