"""Signal events: pauses and lead off (SignalWatch), signal lost (the pool), on record 100."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from producers.records.readers import read_recording
from stream.segmentation.pool import SegmenterPool
from stream.segmentation.watch import (
    PAUSE_MARGIN_S,
    STUCK_S,
    BeatMark,
    Observation,
    SignalWatch,
)
from stream.settings import Settings
from stream.wire.schemas import FrameMessage, SignalEvent

FS = 250.0
N = 50  # samples a frame (0.2 s)


def wave(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.3, frames * N)


def observe(watch: SignalWatch, x: np.ndarray, boundaries: list[int], first: int = 0,
            stream: int = 0) -> list[Observation]:
    """Frames of ``x`` from frame ``first``; a beat is known once the frame of its end has."""
    out = []
    for k in range(first, x.size // N):
        lo, hi = k * N, (k + 1) * N
        marks = [BeatMark(b, b + 200, 1.0) for b in boundaries if lo <= b + 200 < hi]
        out += watch.observe(lo, x[lo:hi], FS, marks, None, hi, stream)
    return out


def feed(watch: SignalWatch, x: np.ndarray, boundaries: list[int], first: int = 0,
         stream: int = 0) -> list[tuple[str, str, int, int]]:
    return [(o.kind, o.phase, o.since_sample, o.at_sample)
            for o in observe(watch, x, boundaries, first, stream)]


def test_a_pause_starts_after_pause_s_plus_the_margin_and_ends_at_the_next_boundary() -> None:
    watch = SignalWatch()
    beats = [*range(0, 2000, 200), 3500]  # the last beat ending at 1999; next 3500 + 200
    got = feed(watch, wave(80), beats)
    need = 1800 + 200 + round((4.0 + PAUSE_MARGIN_S) * FS)  # last boundary 2000 (1800 + 200)
    assert got[0][:3] == ("pause", "start", 2000)
    assert need <= got[0][3] < need + N
    assert got[1] == ("pause", "end", 2000, 3700)
    assert len(got) == 2


def test_no_pause_before_the_first_boundary_nor_for_a_short_one() -> None:
    assert feed(SignalWatch(), wave(40), []) == []
    beats = list(range(0, 2000, 200)) + list(range(2000 + 900, 8000, 200))  # 4.4 s gap < 5 s
    assert feed(SignalWatch(), wave(40), beats) == []


def test_a_constant_signal_is_a_saturated_lead_and_ends_when_it_moves_again() -> None:
    x = wave(60)
    x[1000:2500] = 5.0  # a rail for 6 s
    got = feed(SignalWatch(), x, list(range(0, 1000, 200)))
    assert got[0][:3] == ("lead_off", "start", 1000)
    assert got[0][3] - 1000 >= STUCK_S * FS
    assert got[1] == ("lead_off", "end", 1000, 2550)
    assert not any(kind == "pause" for kind, *_ in got)  # lead off is never a pause


def test_a_flat_but_noisy_signal_is_a_lead_off_relative_to_the_qrs_amplitude() -> None:
    x = wave(60)
    rng = np.random.default_rng(1)
    x[1000:2500] = rng.normal(0.0, 0.001, 1500)  # 1 % of a 1.0 QRS amplitude, never constant
    got = feed(SignalWatch(), x, list(range(0, 1000, 200)))
    kinds = [(k, p) for k, p, *_ in got]
    assert kinds[:2] == [("lead_off", "start"), ("lead_off", "end")]
    assert got[0][3] - got[0][2] >= 2.0 * FS  # flat for lead_off_s before it is said
    # The same signal at 5 % of the amplitude is a pause, not a lead off.
    y = wave(60)
    y[1000:2500] = rng.normal(0.0, 0.05, 1500)
    assert [k for k, *_ in feed(SignalWatch(), y, list(range(0, 1000, 200)))] == ["pause"]


def test_a_break_of_the_stream_ends_a_pause_and_starts_the_clock_anew() -> None:
    watch = SignalWatch()
    got = feed(watch, wave(80)[: 60 * N], list(range(0, 1000, 200)))
    assert [(k, p) for k, p, *_ in got] == [("pause", "start")]
    after = observe(watch, wave(160, 2), [], first=65, stream=65 * N)  # a gap: a new stream
    assert [(o.kind, o.phase, o.detail) for o in after] == [("pause", "end", "signal break")]


def record_events(record: Path, edit: str, minutes: float = 4.0,
                  skip: range = range(0)) -> tuple[list[SignalEvent], int, float]:
    rec = read_recording(record, lead="MLII")
    fs, x = rec.fs, rec.samples[: round(minutes * 60 * rec.fs)].copy()
    t0, rng = round(120 * fs), np.random.default_rng(0)
    base = float(np.median(x[t0 - round(fs):t0]))
    if edit == "pause":  # 6 s without a beat, the baseline with 0.03 mV of noise
        x[t0:t0 + round(6 * fs)] = base + rng.normal(0.0, 0.03, round(6 * fs))
    elif edit == "flat":  # the lead off: one value for 5 s
        x[t0:t0 + round(5 * fs)] = x[t0]
    pool = SegmenterPool(Settings())
    n, events, beats = round(0.25 * fs), [], 0
    for k, lo in enumerate(range(0, x.size - n + 1, n)):
        if k in skip:
            continue
        frame = FrameMessage.model_validate({
            "schema": 1, "patient": "p", "frame_seq": k, "start_sample": lo, "fs": fs,
            "samples": x[lo:lo + n].tolist(), "sent_ms": 250 * k})
        beats += len(pool.push(frame, 250 * k, 0)[0])
        events += pool.take_signal_events()
    return events, beats, fs


@pytest.mark.parametrize("edit", ["none", "gap"])
def test_record_100_as_it_is_and_with_frames_missing_has_no_event(mitdb_record: Path,
                                                                  edit: str) -> None:
    skip = range(480, 520) if edit == "gap" else range(0)  # 10 s of frames never sent
    events, beats, _ = record_events(mitdb_record, "none", skip=skip)
    assert events == [] and beats > 250


def test_record_100_with_a_6_s_pause_publishes_one_pause(mitdb_record: Path) -> None:
    events, _, fs = record_events(mitdb_record, "pause")
    assert [(e.kind, e.phase, e.category) for e in events] == [
        ("pause", "start", "clinical"), ("pause", "end", "clinical")]
    start, end = events
    assert 119.0 * fs <= (start.since_sample or 0) <= 120.0 * fs  # the last beat before it
    assert start.duration_ms >= 5000.0 and 6000.0 <= end.duration_ms <= 8000.0


def test_record_100_with_a_flat_lead_is_a_technical_event_never_a_pause(
        mitdb_record: Path) -> None:
    events, _, fs = record_events(mitdb_record, "flat")
    assert [(e.kind, e.phase, e.category) for e in events] == [
        ("lead_off", "start", "technical"), ("lead_off", "end", "technical")]
    assert events[0].since_sample == round(120 * fs)
    assert events[0].detail.startswith("saturated")


def test_the_pool_says_signal_lost_after_signal_lost_s_and_back_with_the_next_frame() -> None:
    pool = SegmenterPool(Settings(signal_lost_s=10.0))
    x = wave(100)

    def push(k: int, t_ms: int) -> None:
        frame = FrameMessage.model_validate({
            "schema": 1, "patient": "q", "frame_seq": k, "start_sample": k * N, "fs": FS,
            "samples": x[k * N:(k + 1) * N].tolist(), "sent_ms": t_ms})
        pool.push(frame, t_ms, 0)

    for k in range(10):
        push(k, 200 * k)
    pool.flush_idle(1800 + 9_000)
    assert pool.take_signal_events() == []
    pool.flush_idle(1800 + 10_000)
    pool.flush_idle(1800 + 11_000)  # said once
    [lost] = pool.take_signal_events()
    assert (lost.kind, lost.phase, lost.category, lost.since_sample) == (
        "signal_lost", "start", "technical", 10 * N)
    push(10, 30_000)
    [back] = pool.take_signal_events()
    assert (back.kind, back.phase) == ("signal_lost", "end")
    assert back.duration_ms == 30_000 - 1800
