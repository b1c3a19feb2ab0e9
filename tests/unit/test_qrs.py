"""The online QRS detector on synthetic signals with known beats (any rate, scale, polarity)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.segmentation.qrs import KEEP_S, QrsDetector
from stream.segmentation.quality import match_onsets
from tests.synthetic_ecg import Synthetic, rr_series, synthesize

RATES = (125.0, 250.0, 360.0, 500.0, 1000.0)


def detect(x: np.ndarray, fs: float, frame: int = 90) -> np.ndarray:
    detector = QrsDetector(fs)
    found: list[int] = []
    for i in range(0, x.size, frame):
        found += detector.push(x[i : i + frame])
    found += detector.finish()
    return np.asarray(found, dtype=np.int64)


def se_ppv(record: Synthetic, found: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Sensitivity, positive predictivity (EC57: within 150 ms) and the matched errors."""
    pairs = match_onsets(record.r_peaks, found, round(0.15 * record.fs))
    errors = np.array([found[j] - record.r_peaks[i] for i, j in pairs])
    return len(pairs) / record.r_peaks.size, len(pairs) / max(found.size, 1), errors


@pytest.mark.parametrize("fs", RATES)
def test_every_beat_found_at_every_supported_rate(fs: float) -> None:
    record = synthesize(rr_series([60, 75, 90]), fs)
    se, ppv, errors = se_ppv(record, detect(record.signal, fs))
    assert se == 1.0 and ppv == 1.0
    assert np.abs(errors).max() <= 0.01 * fs + 1  # the R peak itself, within 10 ms


@pytest.mark.parametrize("fs", (125.0, 360.0, 1000.0))
def test_heart_rates_from_40_to_200_bpm(fs: float) -> None:
    record = synthesize(rr_series(np.linspace(40, 200, 9), beats_each=12), fs)
    se, ppv, _ = se_ppv(record, detect(record.signal, fs))
    assert se == 1.0 and ppv == 1.0


def test_scale_offset_and_polarity_do_not_change_the_beats() -> None:
    record = synthesize(rr_series([70, 95]), 360.0, noise=0.02, rng=np.random.default_rng(1))
    reference = detect(record.signal, 360.0)
    for variant in (record.signal * 1000.0,           # microvolts
                    record.signal * 200.0 + 1024.0,   # ADC counts on a baseline
                    record.signal * 1e-3):            # volts
        assert np.array_equal(detect(variant, 360.0), reference)
    inverted = detect(-record.signal, 360.0)
    assert inverted.size == reference.size
    assert np.abs(inverted - reference).max() <= 0.01 * 360


@pytest.mark.parametrize("fs", (250.0, 500.0))
def test_noise_and_baseline_wander(fs: float) -> None:
    rng = np.random.default_rng(7)
    record = synthesize(rr_series([65, 80, 110, 70], beats_each=30), fs, noise=0.05,
                        wander=0.6, rng=rng)
    se, ppv, _ = se_ppv(record, detect(record.signal, fs))
    assert se >= 0.99 and ppv >= 0.99


def test_a_pause_is_no_beat_and_the_beats_after_it_are_found() -> None:
    rr = list(rr_series([72], beats_each=15))
    rr[7] = 3.5  # a 3.5 s pause
    record = synthesize(rr, 360.0)
    se, ppv, _ = se_ppv(record, detect(record.signal, 360.0))
    assert se == 1.0 and ppv == 1.0


def test_search_back_finds_a_small_beat_after_tall_ones() -> None:
    record = synthesize(rr_series([75], beats_each=30), 360.0)
    x = record.signal.copy()
    small = record.r_peaks[20]
    lo, hi = small - int(0.3 * 360), small + int(0.3 * 360)
    x[lo:hi] *= 0.45  # MWI at 0.2 of the others: under the signal threshold, over the noise one
    detector = QrsDetector(360.0)
    found = detector.push(x) + detector.finish()
    se, ppv, _ = se_ppv(Synthetic(x, 360.0, record.r_peaks), np.asarray(found))
    assert se == 1.0 and ppv == 1.0
    assert detector.search_backs == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=60))
def test_the_frame_sizes_do_not_change_the_beats(sizes: list[int]) -> None:
    record = synthesize(rr_series([80], beats_each=12), 250.0)
    x = record.signal
    detector, found, i, k = QrsDetector(250.0), [], 0, 0
    while i < x.size:
        n = sizes[k % len(sizes)]
        found += detector.push(x[i : i + n])
        i, k = i + n, k + 1
    found += detector.finish()
    assert found == list(detect(x, 250.0))


def test_memory_is_bounded_over_a_long_stream() -> None:
    record = synthesize(rr_series([70], beats_each=60), 500.0)
    detector = QrsDetector(500.0)
    sizes = []
    for _ in range(6):  # six minutes
        for i in range(0, record.signal.size, 125):
            detector.push(record.signal[i : i + 125])
        sizes.append(detector.nbytes)
    # Two windows of KEEP_S seconds of three float64 histories, whatever the stream's length.
    assert max(sizes) <= 2 * KEEP_S * 500 * 3 * 8 + 1024
    assert sizes[-1] == sizes[0]


def test_a_start_offset_gives_absolute_sample_indices() -> None:
    record = synthesize(rr_series([70]), 360.0)
    detector = QrsDetector(360.0, start=10_000)
    found = detector.push(record.signal) + detector.finish()
    assert np.array_equal(np.asarray(found) - 10_000, detect(record.signal, 360.0))


def test_the_filter_kernel_is_scipy_lfilter(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy import signal

    from stream.segmentation import qrs

    f = qrs.filters(360.0)
    x = np.random.default_rng(3).normal(size=90)
    zi = f.slope_zi * 0.3
    expected, expected_zf = signal.lfilter(f.slope_b, f.slope_a, x, zi=zi)
    for kernel in (qrs._linear_filter, None):
        monkeypatch.setattr(qrs, "_linear_filter", kernel)
        y, zf = qrs.lfilter(f.slope_b, f.slope_a, x, zi)
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(zf, expected_zf)


@given(st.lists(st.floats(0.0, 4.0), min_size=3, max_size=300), st.integers(1, 40),
       st.integers(0, 150), st.integers(0, 150))
@settings(max_examples=300, deadline=None)
def test_candidates_are_the_peaks_largest_within_the_refractory(
        values: list[float], d: int, lo: int, width: int) -> None:
    """Against the definition: >= every value within d (in the segment), rising into it."""
    from dataclasses import replace

    seg = np.round(np.asarray(values), 1)  # ties and plateaus
    detector = QrsDetector(360.0)
    detector._f = replace(detector._f, refractory=d)
    detector._hist = np.zeros((3, seg.size))
    detector._hist[0] = seg
    detector._len, detector.end = seg.size, seg.size
    hi = min(lo + width, seg.size)
    expected = [(i, float(seg[i])) for i in range(max(lo, 1), hi)
                if seg[i] > 0 and seg[i] > seg[i - 1]
                and seg[i] >= seg[max(i - d, 0) : i + d + 1].max()]
    assert detector._candidates(lo, hi) == expected
