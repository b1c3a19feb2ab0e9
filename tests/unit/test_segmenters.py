"""The worker's per-patient segmenter pool: refused frames, idle flushing, memory bounds."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import signal as sps

from producers.stitch import frames, stitch
from stream.segmentation import PatientSegmenter
from stream.segmentation.fiducial import load_fiducial
from stream.segmentation.pool import EVICTED, EXPIRED, FINISH_FAILED, SegmenterPool
from stream.settings import Settings
from stream.wire.schemas import FrameMessage
from tests.synthetic_ecg import rr_series, synthesize


def frame(patient: str, seq: int, sent_ms: int, size: int = 64) -> FrameMessage:
    samples = np.sin(np.arange(seq * size, (seq + 1) * size) / 7.0).tolist()
    return FrameMessage(schema=1, patient=patient, frame_seq=seq, start_sample=seq * size,
                        fs=140.0, samples=samples, sent_ms=sent_ms)


def test_duplicate_frame_is_refused_for_the_dead_letter_topic() -> None:
    pool = SegmenterPool(Settings())
    pool.push(frame("a", 0, 0), 0)
    _, refused = pool.push(frame("a", 0, 0), 0)
    assert [reason for reason, _ in refused] == ["frame_duplicate"]


def test_idle_is_judged_in_event_time_not_arrival_time() -> None:
    pool = SegmenterPool(Settings(segment_idle_flush_ms=1000))
    pool.push(frame("a", 0, sent_ms=0), received_ms=10_000)
    pool.push(frame("b", 0, sent_ms=500), received_ms=10_000)
    # A backlog: frames arrive late, but by producer time patient a is only 500 ms behind.
    pool.flush_idle(now=10_100)
    assert not pool.is_flushed("a")
    pool.push(frame("b", 1, sent_ms=1_500), received_ms=10_200)
    pool.flush_idle(now=10_300)
    assert pool.is_flushed("a") and not pool.is_flushed("b")


def test_a_quiet_stream_flushes_everyone() -> None:
    pool = SegmenterPool(Settings(segment_idle_flush_ms=1000))
    pool.push(frame("a", 0, sent_ms=0), received_ms=0)
    pool.push(frame("b", 0, sent_ms=0), received_ms=0)
    pool.flush_idle(now=999)
    assert not pool.is_flushed("a")
    pool.flush_idle(now=1000)
    assert pool.is_flushed("a") and pool.is_flushed("b")


def test_a_failing_finish_is_counted_and_the_other_patients_still_flush(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pool = SegmenterPool(Settings(segmenter="templates", segment_idle_flush_ms=1000))
    pool.push(frame("bad", 0, sent_ms=0), received_ms=0)
    pool.push(frame("good", 0, sent_ms=0), received_ms=0)
    real_finish = PatientSegmenter.finish
    failing = pool.segmenter("bad")

    def finish(self: PatientSegmenter):  # noqa: ANN202 - the segmenter's own result type
        if self is failing:
            raise ZeroDivisionError("float division by zero")
        return real_finish(self)

    monkeypatch.setattr(PatientSegmenter, "finish", finish)
    pool.flush_idle(now=1000)
    assert pool.is_flushed("bad") and pool.is_flushed("good")
    assert pool.events[FINISH_FAILED] == 1


def _beats_signal(n_beats: int, seed: int = 0) -> np.ndarray:
    """Synthetic beats the segmenter finds: the learned onset template, then a T-like wave."""
    template = np.asarray(load_fiducial().template)
    rng = np.random.default_rng(seed)
    tail = 0.3 * np.sin(np.linspace(0, np.pi, 100))
    beats = np.stack([np.concatenate([5 * template, tail]) + 0.01 * rng.standard_normal(140)
                      for _ in range(n_beats)])
    return stitch(beats.astype(np.float32), rng, (125, 155)).signal


def _frames(patient: str, signal: np.ndarray, fs: float = 140.0, size: int = 64,
            sent_ms: int = 0) -> list[FrameMessage]:
    return [FrameMessage(schema=1, patient=patient, frame_seq=seq, start_sample=start, fs=fs,
                         samples=chunk.tolist(), sent_ms=sent_ms)
            for seq, start, chunk in frames(signal, size)]


def _feed(pool: SegmenterPool, messages: list[FrameMessage], received_ms: int = 0) -> list:
    beats = []
    for message in messages:
        beats += pool.push(message, received_ms)[0]
    return beats


def test_eviction_past_the_byte_budget_scores_the_last_beat_and_counts_it() -> None:
    signal = _beats_signal(8)
    alone = SegmenterPool(Settings())
    expected = _feed(alone, _frames("p0", signal)) + alone.flush_idle(2**62)

    pool = SegmenterPool(Settings(segmenter_max_bytes=2**20))
    beats = _feed(pool, _frames("p0", signal))
    other = 0
    while "p0" in pool:
        _feed(pool, _frames(f"q{other}", signal[:128]))
        other += 1
    assert pool.events[EVICTED] == 1 and other > 10  # p0 was fed least recently
    beats += [b for b in pool.flush_idle(0) if b.patient == "p0"]  # not idle: eviction only
    assert [(b.onset_sample, b.seq) for b in beats] == [(b.onset_sample, b.seq) for b in expected]
    assert all(b.patient != "p0" for b in pool.flush_idle(0))  # handed over once


def test_patient_state_stays_within_the_byte_budget() -> None:
    pool = SegmenterPool(Settings(segmenter_max_bytes=2**20))
    signal = _beats_signal(3)
    for index in range(400):
        _feed(pool, _frames(f"p{index}", signal))
        assert pool.nbytes <= pool.max_bytes
    assert pool.nbytes == sum(pool.patient_nbytes(p) for p in pool.patients())
    assert len(pool) < 400 and pool.events[EVICTED] == 400 - len(pool)
    assert pool.patients()[-1] == "p399"  # the newest stays, the oldest went first


def test_a_patient_after_eviction_never_repeats_a_seq() -> None:
    pool = SegmenterPool(Settings(segmenter_max_bytes=2**20))
    signal = _beats_signal(8)
    first = _feed(pool, _frames("p0", signal))
    other = 0
    while "p0" in pool:
        _feed(pool, _frames(f"q{other}", signal[:128]))
        other += 1
    first += pool.flush_idle(0)
    again = _feed(pool, _frames("p0", signal, sent_ms=10)) + pool.flush_idle(2**62)
    old = {b.seq for b in first if b.patient == "p0"}
    new = {b.seq for b in again if b.patient == "p0"}
    assert old and new and min(new) > max(old)


def test_patients_idle_past_the_expiry_are_dropped_and_counted() -> None:
    pool = SegmenterPool(Settings(segmenter_idle_expiry_s=1.0))
    signal = _beats_signal(4)
    _feed(pool, _frames("a", signal), received_ms=0)
    _feed(pool, _frames("b", signal), received_ms=1_500)
    flushed = pool.flush_idle(now=999)
    assert len(pool) == 2 and EXPIRED not in pool.events and flushed == []
    flushed = pool.flush_idle(now=1_000)
    assert pool.patients() == ["b"] and pool.events[EXPIRED] == 1
    assert flushed and {b.patient for b in flushed} == {"a"}  # its last beats, on the way out
    pool.flush_idle(now=2_500)
    assert len(pool) == 0 and pool.events[EXPIRED] == 2 and pool.nbytes == 0


@pytest.mark.parametrize("fs", [50.0, 99.9, 1000.5, 1001.0, 10_000.0, 1e9])
def test_rates_outside_the_supported_range_are_refused_without_preparing(fs: float) -> None:
    pool = SegmenterPool(Settings())
    asyncio.run(pool.prepare(fs))
    _, refused = pool.push(_frames("a", _beats_signal(2), fs=fs)[0], 0)
    assert [reason for reason, _ in refused] == ["frame_bad_fs"]
    assert pool.plans.nbytes == 0


def test_the_rate_range_is_a_setting_within_the_supported_one() -> None:
    pool = SegmenterPool(Settings(min_sampling_rate=150, max_sampling_rate=500))
    assert not pool.supported(600.0) and not pool.supported(120.0) and pool.supported(250.0)
    with pytest.raises(ValidationError):
        Settings(max_sampling_rate=10_000.0)
    with pytest.raises(ValidationError):
        Settings(min_sampling_rate=800, max_sampling_rate=500)


def test_the_rate_cache_is_capped_and_releases_the_patients_of_an_evicted_rate() -> None:
    pool = SegmenterPool(Settings(segmenter="templates", segmenter_rates=2))
    base = _beats_signal(8)
    alone = SegmenterPool(Settings(segmenter="templates"))
    expected = _feed(alone, _frames("a", base)) + alone.flush_idle(2**62)
    beats = []
    for patient, fs in (("a", 140.0), ("b", 360.0), ("c", 1000.0)):
        signal = sps.resample(base, round(base.size * fs / 140))
        asyncio.run(pool.prepare(fs))
        beats += _feed(pool, _frames(patient, signal, fs, size=round(64 * fs / 140)))
    assert len(pool.plans) == 2 and not pool.plans.ready(140.0)
    assert pool.patients() == ["b", "c"] and pool.events[EVICTED] == 1
    assert pool.plans.nbytes <= 2 * 83 * 2**20
    beats += pool.flush_idle(0)  # a's beats closed by the eviction
    got = [(b.seq, b.onset_sample) for b in beats if b.patient == "a"]
    assert got == [(b.seq, b.onset_sample) for b in expected]


def test_a_new_rate_is_prepared_in_a_thread_while_the_event_loop_runs() -> None:
    pool = SegmenterPool(Settings(segmenter="templates"))
    threads, ticks = [], []
    build = pool.plans.build

    def spy(fs: float):
        threads.append(threading.get_ident())
        return build(fs)

    pool.plans.build = spy  # type: ignore[method-assign]

    async def main() -> None:
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(pool.plans.ready(1000.0))
                await asyncio.sleep(0.001)

        task = asyncio.ensure_future(ticker())
        await asyncio.gather(pool.prepare(1000.0), pool.prepare(1000.0))
        done.set()
        await task

    asyncio.run(main())
    assert threads and threads == [threads[0]] and threads[0] != threading.get_ident()
    assert pool.plans.ready(1000.0) and False in ticks  # the loop ran during the build


def test_idle_is_judged_per_partition_so_an_uneven_backlog_cuts_no_beat() -> None:
    # Under a backlog the consumer delivers partition 0 far ahead of partition 1 (by send
    # time). Patient b of partition 1 is not idle: its own partition has nothing newer.
    pool = SegmenterPool(Settings(segment_idle_flush_ms=1000))
    pool.push(frame("a", 0, sent_ms=0), received_ms=0, partition=0)
    pool.push(frame("b", 0, sent_ms=0), received_ms=0, partition=1)
    for seq in range(1, 40):
        pool.push(frame("a", seq, sent_ms=seq * 500), received_ms=seq, partition=0)
    pool.flush_idle(now=40)
    assert not pool.is_flushed("b") and not pool.is_flushed("a")
    pool.push(frame("c", 0, sent_ms=1_000), received_ms=41, partition=1)
    pool.flush_idle(now=42)
    assert pool.is_flushed("b")  # its partition moved 1 s past it: b went quiet


def test_a_beat_carries_the_send_time_of_the_frame_holding_its_last_sample() -> None:
    record = synthesize(rr_series([75], beats_each=12), 250.0)
    pool = SegmenterPool(Settings())
    beats, ends = [], []
    for seq, start in enumerate(range(0, record.signal.size, 25)):
        samples = record.signal[start : start + 25].tolist()
        message = FrameMessage(schema=1, patient="p", frame_seq=seq, start_sample=start,
                               fs=250.0, samples=samples, sent_ms=1_000 + seq)
        got, _ = pool.push(message, received_ms=0)
        beats += got
        ends.append(start + len(samples))
    assert len(beats) >= 8
    for beat in beats:
        last = beat.onset_sample + beat.resampled_from - 1
        holding = next(i for i, end in enumerate(ends) if end > last)
        assert beat.sent_ms == 1_000 + holding and beat.fiducial_sample is not None


def test_a_beat_carries_the_send_times_of_its_last_sample_and_of_the_frame_that_cut_it() -> None:
    fs, size = 360.0, 90  # frames of 0.25 s, sent 250 ms apart
    signal = synthesize(rr_series([72.0], beats_each=30), fs).signal
    messages = [FrameMessage(schema=1, patient="p", frame_seq=seq, start_sample=start, fs=fs,
                             samples=chunk.tolist(), sent_ms=250 * seq)
                for seq, start, chunk in frames(signal, size)]
    pool, beats = SegmenterPool(Settings()), []
    for message in messages:
        cut = pool.push(message, 0)[0]
        assert all(b.cut_sent_ms == message.sent_ms for b in cut)  # the frame just pushed
        beats += cut
    assert len(beats) >= 25
    for beat in beats:
        last = beat.onset_sample + (beat.resampled_from or 140) - 1
        assert beat.sent_ms == 250 * (last // size)  # the frame holding the last sample
        # The QRS detector sees the next beat's QRS some frames later: the frame latency
        # is shorter than the beat latency by that wait.
        assert beat.cut_sent_ms is not None and beat.cut_sent_ms >= beat.sent_ms
    assert max(b.cut_sent_ms - b.sent_ms for b in beats) > 0
