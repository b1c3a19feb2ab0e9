"""The QRS segmenter: beats cut around R peaks in any units, every sample accounted for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.segmentation.cut import load_cut
from stream.segmentation.issues import Reason
from stream.segmentation.qrs_segmenter import MAX_BEAT_S, QrsSegmenter
from stream.segmentation.quality import match_onsets
from stream.segmentation.segmenter import Beat, PushResult
from tests.synthetic_ecg import rr_series, synthesize

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def run(x: np.ndarray, fs: float, frame: int, order: list[int] | None = None
        ) -> tuple[list[Beat], PushResult]:
    """Segment ``x`` in frames of ``frame`` samples (sent in ``order``), then finish."""
    segmenter = QrsSegmenter()
    starts = list(range(0, x.size, frame))
    results = PushResult()
    for seq in order if order is not None else range(len(starts)):
        out = segmenter.push(seq, starts[seq], fs, x[starts[seq] : starts[seq] + frame])
        results.beats += out.beats
        results.issues += out.issues
    out = segmenter.finish()
    results.beats += out.beats
    results.issues += out.issues
    return results.beats, results


def lost(result: PushResult) -> int:
    return sum(issue.samples_lost for issue in result.issues)


@pytest.mark.parametrize("fs", [125.0, 250.0, 360.0, 500.0, 1000.0])
def test_one_beat_per_r_peak_cut_by_the_convention(fs: float) -> None:
    record = synthesize(rr_series([60, 85, 120]), fs)
    beats, result = run(record.signal, fs, round(0.25 * fs))
    fiducials = np.array([b.fiducial_sample for b in beats])
    pairs = match_onsets(record.r_peaks, fiducials, round(0.15 * fs))
    # Every R peak but the last (its beat has no end) becomes one beat.
    assert len(pairs) == len(beats) == record.r_peaks.size - 1
    offset = round(load_cut().offset_s * fs)
    assert all(b.onset_sample == b.fiducial_sample + offset for b in beats[1:])
    assert all(b.samples.shape == (140,) and b.samples.dtype == np.float32 for b in beats)
    assert all(np.isfinite(b.samples).all() for b in beats)
    assert sum(b.length for b in beats) + lost(result) == record.signal.size


def test_units_and_polarity_give_the_same_beats() -> None:
    record = synthesize(rr_series([72, 95]), 360.0, noise=0.02, rng=np.random.default_rng(3))
    beats, _ = run(record.signal, 360.0, 90)
    for variant in (record.signal * 1000.0, record.signal * 200.0 + 1024.0, -record.signal):
        other, _ = run(variant, 360.0, 90)
        assert [b.onset_sample for b in other] == [b.onset_sample for b in beats]
        for a, b in zip(beats, other, strict=True):
            np.testing.assert_allclose(a.samples, b.samples, atol=2e-3)


def test_a_pause_is_no_beat_and_is_counted() -> None:
    rr = list(rr_series([70], beats_each=12))
    rr[5] = MAX_BEAT_S + 1.0
    record = synthesize(rr, 250.0)
    beats, result = run(record.signal, 250.0, 64)
    # The beat holding the pause is none; the last one (1 s of tail, within 1.6 beats) is.
    assert len(beats) == record.r_peaks.size - 1
    assert max(b.length for b in beats) < 1.5 * 250  # none holds the 4 s pause
    assert any(i.reason is Reason.PARTIAL_BEAT and i.detail == "no beat for MAX_BEAT_S"
               for i in result.issues)
    assert sum(b.length for b in beats) + lost(result) == record.signal.size


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_no_frame_order_loses_samples_silently(data: st.DataObject) -> None:
    record = synthesize(rr_series([80], beats_each=16), 250.0)
    frame = 50
    n = -(-record.signal.size // frame)
    order = [0]
    rest = list(range(1, n))
    dropped = set(data.draw(st.sets(st.sampled_from(rest), max_size=4)))
    kept = [s for s in rest if s not in dropped]
    # Swap neighbours (within the reorder window) and repeat a few frames.
    for i in range(0, len(kept) - 1, 2):
        if data.draw(st.booleans()):
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    for seq in data.draw(st.lists(st.sampled_from(kept), max_size=3)):
        kept.insert(kept.index(seq) + 1, seq)
    order += kept
    beats, result = run(record.signal, 250.0, frame, order)
    last = max(kept) if kept else 0
    span = min(record.signal.size, (last + 1) * frame)
    assert sum(b.length for b in beats) + lost(result) == span
    onsets = [b.onset_sample for b in beats]
    assert onsets == sorted(set(onsets))
    ends = [b.onset_sample + b.length for b in beats]
    assert all(end <= nxt for end, nxt in zip(ends, onsets[1:], strict=False))


def test_memory_is_bounded_over_an_hour_at_1000_hz() -> None:
    record = synthesize(rr_series([75], beats_each=75), 1000.0)  # one minute
    segmenter = QrsSegmenter()
    sizes, seq, start = [], 0, 0
    for _ in range(10):  # ten minutes of signal; the state does not grow with time
        for i in range(0, record.signal.size, 250):
            segmenter.push(seq, start, 1000.0, record.signal[i : i + 250])
            seq, start = seq + 1, start + record.signal[i : i + 250].size
        sizes.append(segmenter.nbytes)
    assert max(sizes) < 400_000
    assert max(sizes[1:]) <= sizes[1] + 16_000


def test_finish_then_contiguous_frames_go_on() -> None:
    record = synthesize(rr_series([70], beats_each=20), 360.0)
    x, half = record.signal, 90 * 40
    segmenter = QrsSegmenter()
    beats = []
    for seq, i in enumerate(range(0, half, 90)):
        beats += segmenter.push(seq, i, 360.0, x[i : i + 90]).beats
    beats += segmenter.finish().beats
    for seq, i in enumerate(range(half, x.size, 90), start=half // 90):
        beats += segmenter.push(seq, i, 360.0, x[i : i + 90]).beats
    beats += segmenter.finish().beats
    found = np.array([b.fiducial_sample for b in beats])
    assert len(match_onsets(record.r_peaks, found, 54)) >= record.r_peaks.size - 2


def test_mitdb_record_100_every_beat_found(mitdb_record: Path) -> None:
    signals, fields = wfdb.rdsamp(str(mitdb_record), channel_names=["MLII"])
    annotation = wfdb.rdann(str(mitdb_record), "atr")
    reference = np.array([s for s, y in zip(annotation.sample, annotation.symbol, strict=True)
                          if y in BEAT_SYMBOLS])
    fs = float(fields["fs"])
    beats, result = run(signals[:, 0], fs, round(0.25 * fs))
    found = np.array([b.fiducial_sample for b in beats])
    pairs = match_onsets(reference, found, round(0.15 * fs))
    assert reference.size == 2273
    # The last annotated beat ends the record: it has no end, so no beat.
    assert len(pairs) >= 2272 and len(pairs) == len(beats)
    assert sum(b.length for b in beats) + lost(result) == signals.shape[0]
