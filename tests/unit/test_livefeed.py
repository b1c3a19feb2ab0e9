"""The dashboard's in-memory feed and its snapshots (pure: no web server, no services)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from stream.alerts.rule import AlertTracker
from stream.beats import PendingBeat
from stream.observe.dashboard import Snapshots
from stream.observe.livefeed import LiveFeed
from stream.wire.schemas import ScoreRecord


def _beat(patient: str, seq: int, value: float = 0.0) -> PendingBeat:
    return PendingBeat(patient, "beat", seq, None, np.full(140, value, dtype=np.float32), None,
                       0, 0)


def _record(patient: str, seq: int, score: float, anomalous: bool, ms: int) -> ScoreRecord:
    return ScoreRecord(patient=patient, mode="beat", seq=seq, score=score, threshold=10.0,
                       threshold_source="static", anomalous=anomalous, model_version="v",
                       sent_ms=ms, received_ms=ms, published_ms=ms)


def _feed(**kwargs: int) -> LiveFeed:
    return LiveFeed(AlertTracker(2, 3, cooldown_s=60.0), **kwargs)


def _observe(feed: LiveFeed, items: list[tuple[str, int, float, bool, int]]) -> None:
    feed.observe([_beat(p, s, sc) for p, s, sc, _, _ in items],
                 [_record(p, s, sc, a, ms) for p, s, sc, a, ms in items])


def test_observe_counts_beats_anomalies_alerts_and_keeps_the_newest() -> None:
    feed = _feed(beats_per_patient=2, scores_per_patient=3)
    _observe(feed, [("a", i, 20.0 if i >= 2 else 1.0, i >= 2, 1_000_000 + i) for i in range(5)])
    overview = feed.overview(1_001)
    assert (overview["beats_scored"], overview["anomalies"], overview["alerts"]) == (5, 3, 1)
    view = feed.patient_view("a")
    assert view is not None
    assert [b["seq"] for b in view["beats"]] == [3, 4]
    assert [s[0] for s in view["scores"]] == [2, 3, 4]
    assert [a["seq"] for a in overview["recent_anomalies"]] == [4, 3, 2]
    alert = overview["recent_alerts"][0]
    assert (alert["patient"], alert["first_seq"], alert["last_seq"]) == ("a", 2, 3)
    seqs, samples = feed.patient_samples("a")  # type: ignore[misc]
    assert seqs == (3, 4) and samples.shape == (2, 140)
    assert feed.patient_view("nobody") is None and feed.patient_samples("nobody") is None


def test_patients_are_bounded_least_recently_seen_first_out() -> None:
    feed = _feed(max_patients=2)
    _observe(feed, [("a", 0, 1.0, False, 0), ("b", 0, 1.0, False, 0)])
    _observe(feed, [("a", 1, 1.0, False, 0), ("c", 0, 1.0, False, 0)])
    names = [p["patient"] for p in feed.overview(0)["patients"]]
    assert names == ["c", "a"]  # most recent first; b was dropped


def test_throughput_is_per_second_with_gaps_filled() -> None:
    feed = _feed(history_s=4)
    _observe(feed, [("a", 0, 1.0, False, 10_100), ("a", 1, 20.0, True, 10_900)])
    _observe(feed, [("a", 2, 1.0, False, 12_000)])
    assert feed.throughput(13) == [(9, 0, 0), (10, 2, 1), (11, 0, 0), (12, 1, 0)]
    overview = feed.overview(13)
    assert overview["beats_per_s"] == pytest.approx(3 / 4)


def test_lag_is_summed_over_partitions() -> None:
    feed = _feed()
    assert feed.overview(0)["lag"] is None
    feed.set_lag({("t", 0): 5, ("t", 1): 7, ("t", 2): -1}, 100)
    overview = feed.overview(101)
    assert overview["lag"] == 12 and overview["lag_series"] == [[100, 12]]


def test_snapshots_reconstruct_once_per_set_of_beats() -> None:
    feed = _feed()
    calls: list[int] = []

    def reconstruct(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x + 1.0

    snapshots = Snapshots(feed, reconstruct, {"worker": "w"})
    _observe(feed, [("a", 0, 1.0, False, 0), ("b", 0, 1.0, False, 0)])
    snap = asyncio.run(snapshots.build(None))
    assert snap["patient"]["patient"] == "b"  # the most recently seen by default
    assert snap["patient"]["reconstructions"] == [[2.0] * 140]  # samples 1.0, plus 1
    asyncio.run(snapshots.build("b"))
    assert calls == [1]
    _observe(feed, [("b", 1, 2.0, False, 0)])
    snap = asyncio.run(snapshots.build("b"))
    assert calls == [1, 2] and len(snap["patient"]["samples"]) == 2
    assert asyncio.run(snapshots.build("nobody"))["patient"] is None


def test_a_dropped_patient_leaves_no_alert_window_behind() -> None:
    feed = _feed(max_patients=1)  # alert: 2 anomalies among the last 3 beats
    _observe(feed, [("a", 0, 20.0, True, 0), ("b", 0, 1.0, False, 0)])  # b pushes a out
    _observe(feed, [("a", 1, 20.0, True, 0)])  # with a's old window, 2 of 3: an alert
    assert feed.overview(0)["alerts"] == 0
    _observe(feed, [("a", 2, 20.0, True, 0)])
    assert feed.overview(0)["alerts"] == 1
