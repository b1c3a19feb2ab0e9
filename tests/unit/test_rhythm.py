"""Rhythm of a patient's beats: RR intervals, heart rate, prematurity."""

from __future__ import annotations

import numpy as np

from stream.beats import PendingBeat
from stream.segmentation.rhythm import MIN_RUNNING, PREMATURE_FRACTION, Rhythm, RhythmTracker
from tools.prematurity import run as choose_fraction


def feed(lengths: list[int], start: int = 0) -> list[Rhythm]:
    tracker, onset, out = RhythmTracker(), start, []
    for length in lengths:
        out.append(tracker.observe(onset, length))
        onset += length
    return out


def test_rr_before_is_the_previous_beat_and_rr_after_its_own_length() -> None:
    rhythms = feed([300, 310, 290, 305])
    assert [r.rr_before for r in rhythms] == [None, 300, 310, 290]
    assert [r.rr_after for r in rhythms] == [300, 310, 290, 305]
    assert rhythms[1].heart_rate_bpm(360.0) == 72.0
    assert rhythms[0].heart_rate_bpm(360.0) is None


def test_prematurity_is_undecided_until_the_running_rr_is_known() -> None:
    rhythms = feed([300] * 10)
    decided = [r.premature for r in rhythms]
    assert decided[: MIN_RUNNING + 1] == [None] * (MIN_RUNNING + 1)
    assert decided[MIN_RUNNING + 1 :] == [False] * (10 - MIN_RUNNING - 1)
    assert rhythms[-1].running_rr == 300.0


def test_a_premature_beat_and_its_compensatory_pause() -> None:
    # Beat 11 comes after an RR of 0.7 (the 10th beat is short), then a long pause.
    rhythms = feed([300] * 10 + [210, 390] + [300] * 5)
    flags = [r.premature for r in rhythms]
    assert flags[11] is True
    assert flags[12] is False and all(f is False for f in flags[13:])
    assert rhythms[12].running_rr == 300.0  # the premature interval is not in it
    assert feed([300] * 10 + [round(300 * PREMATURE_FRACTION) + 1, 300])[11].premature is False


def test_a_gap_leaves_the_rr_before_unknown_but_keeps_the_running_rr() -> None:
    tracker = RhythmTracker()
    onset = 0
    for _ in range(8):
        tracker.observe(onset, 300)
        onset += 300
    after_gap = tracker.observe(onset + 1000, 200)  # the next beat comes early
    assert after_gap.rr_before is None and after_gap.premature is None
    assert after_gap.running_rr == 300.0
    assert tracker.observe(onset + 1200, 300).premature is True


def test_score_record_fields_in_milliseconds_and_none_in_beat_mode() -> None:
    samples = np.zeros(140, dtype=np.float32)
    beat = PendingBeat("p", "continuous", 0, 0, samples, 300, 0, 0, fs=360.0, rr_before=270,
                       rr_after=300, premature=True)
    assert beat.rhythm_fields() == {"rr_before_ms": 750.0, "rr_after_ms": 833.3,
                                    "heart_rate_bpm": 80.0, "premature": True}
    plain = PendingBeat("p", "beat", 0, None, samples, None, 0, 0)
    assert set(plain.rhythm_fields().values()) == {None}


def test_the_frozen_fraction_is_the_one_chosen_on_synthetic_signals() -> None:
    report = choose_fraction(records=40, seed=0, fs=250.0, hrv=0.05, jitter=0.02, every=20,
                             max_false=0.005)
    assert report["chosen"] == PREMATURE_FRACTION
    row = next(r for r in report["table"] if r["fraction"] == PREMATURE_FRACTION)
    assert row["se"] >= 0.99 and row["false_rate"] <= 0.005
