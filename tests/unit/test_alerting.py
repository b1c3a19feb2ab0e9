"""The m-of-n alert rule: firing, cool-down, duplicates, stale and independent patients."""

from __future__ import annotations

import pytest

from stream.alerts.rule import AlertTracker, format_alert
from stream.wire.schemas import Alert, ScoreRecord

T0 = 1_700_000_000_000  # epoch ms


def record(patient: str, seq: int, t_s: float, score: float = 0.9,
           anomalous: bool = True, sent_s: float | None = None) -> ScoreRecord:
    """A beat-mode record published at ``t_s``, sent by the producer at ``sent_s`` (default t_s).

    A re-delivered beat keeps its original send time: pass it as ``sent_s``.
    """
    ms = T0 + round(t_s * 1000)
    sent = ms if sent_s is None else T0 + round(sent_s * 1000)
    return ScoreRecord(patient=patient, mode="beat", seq=seq, score=score, threshold=0.5,
                       threshold_source="static", anomalous=anomalous, model_version="t",
                       sent_ms=sent, received_ms=ms, published_ms=ms)


# (patient, seq, time s, expected outcome[, send time s]) with m=3, n=5, cool-down 10 s.
# outcome: "alert", "-" (nothing), "suppressed", "duplicate", "stale".
SCRIPT = [
    ("p1", 1, 0.0, "-"),
    ("p1", 3, 1.0, "-"),
    ("p1", 3, 1.5, "duplicate", 1.0),  # re-delivered: must not count twice
    ("p2", 4, 1.6, "-"),              # other patient, own window
    ("p1", 6, 2.0, "-"),              # window (1, 6]: seqs 3, 6 -> 2 anomalies
    ("p1", 7, 3.0, "alert"),          # window (2, 7]: 3, 6, 7 -> fires at the m-th
    ("p1", 8, 4.0, "suppressed"),     # window (3, 8]: 6, 7, 8; cool-down until t=13
    ("p1", 8, 4.1, "duplicate", 4.0),
    ("p1", 2, 4.2, "stale", 0.5),     # 2 <= 8 - 5: no longer among the last 5 beats
    ("p2", 5, 5.0, "-"),
    ("p2", 6, 5.5, "alert"),          # p2 unaffected by p1's cool-down
    ("p1", 10, 12.9, "suppressed"),
    ("p1", 11, 13.0, "alert"),        # cool-down over: the persisting episode re-alerts
    ("p1", 30, 30.0, "-"),            # window (25, 30]: one anomaly
    ("p1", 31, 31.0, "-"),
    ("p1", 33, 33.0, "alert"),
]


def _outcome(tracker: AlertTracker, rec: ScoreRecord) -> tuple[str, Alert | None]:
    before = (tracker.counters.suppressed, tracker.counters.duplicates, tracker.counters.stale)
    alert = tracker.observe(rec)
    after = (tracker.counters.suppressed, tracker.counters.duplicates, tracker.counters.stale)
    if alert is not None:
        return "alert", alert
    changed = [name for name, b, a in zip(("suppressed", "duplicate", "stale"), before, after,
                                          strict=True) if a != b]
    return (changed[0] if changed else "-"), None


def test_scripted_sequence() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=10)
    outcomes = [_outcome(tracker, record(p, s, t, sent_s=(rest or [None])[0]))[0]
                for p, s, t, _, *rest in SCRIPT]
    assert outcomes == [row[3] for row in SCRIPT]
    c = tracker.counters
    assert (c.events, c.alerts, c.suppressed, c.duplicates, c.stale) == (16, 4, 2, 2, 1)
    assert (c.restarts, c.expired) == (0, 0)
    assert tracker.suppressed("p1") == 2 and tracker.suppressed("p2") == 0


def test_alert_content() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=10)
    alerts = [tracker.observe(record("p-7", s, s, score=0.1 * s)) for s in (41, 43, 45)]
    alert = alerts[-1]
    assert alerts[:2] == [None, None] and alert is not None
    assert (alert.patient, alert.anomalies, alert.window) == ("p-7", 3, 5)
    assert (alert.first_seq, alert.last_seq) == (41, 45)
    assert alert.max_score == pytest.approx(4.5)
    assert alert.raised_ms == T0 + 45_000


def test_normal_records_slide_the_window_without_counting() -> None:
    tracker = AlertTracker(m=2, n=3, cooldown_s=0)
    assert tracker.observe(record("p", 1, 0)) is None
    assert tracker.observe(record("p", 4, 1, anomalous=False)) is None  # window (1, 4]
    assert tracker.observe(record("p", 5, 2)) is None
    assert tracker.observe(record("p", 6, 3)) is not None
    assert tracker.counters.normal == 1


@pytest.mark.parametrize(("m", "n", "cooldown", "idle"),
                         [(0, 5, 1, 60), (6, 5, 1, 60), (2, 5, -1, 60), (2, 5, 1, 0)])
def test_invalid_rule(m: int, n: int, cooldown: float, idle: float) -> None:
    with pytest.raises(ValueError, match="need|cool-down|idle"):
        AlertTracker(m, n, cooldown, idle_s=idle)


def test_zero_cooldown_fires_on_every_hit_and_injected_clock() -> None:
    now = [T0]
    tracker = AlertTracker(m=1, n=1, cooldown_s=0, clock=lambda: now[0])
    assert all(tracker.observe(record("p", s, 0)) is not None for s in range(3))
    tracker = AlertTracker(m=1, n=1, cooldown_s=5, clock=lambda: now[0])
    assert tracker.observe(record("p", 1, 0)) is not None
    assert tracker.observe(record("p", 2, 100)) is None  # record time ignored: clock says T0
    now[0] += 5000
    assert tracker.observe(record("p", 3, 0)) is not None


def test_format_alert() -> None:
    alert = Alert(patient="p-7", anomalies=3, window=5, first_seq=41, last_seq=45,
                  raised_ms=1_795_629_601_000, max_score=0.93)
    assert format_alert(alert) == (
        "2026-11-25T18:00:01Z ALERT patient p-7: 3 of last 5 beats anomalous "
        "(seq 41-45, max score 0.93)"
    )


# --- producer restarts (beat mode) --------------------------------------------------------

def _replay(tracker: AlertTracker, patients: list[str], start_s: float, beats: int = 40
            ) -> list[Alert]:
    """A beat replay: every patient's seq 0..beats-1, anomalies at seq % 4 != 3, 10 beats/s."""
    alerts = []
    for seq in range(beats):
        for patient in patients:
            t = start_s + seq / 10
            alert = tracker.observe(record(patient, seq, t, anomalous=seq % 4 != 3))
            alerts += [alert] if alert is not None else []
    return alerts


def test_a_producer_restarting_its_numbering_resets_the_window_and_alerts_again(
        caplog: pytest.LogCaptureFixture) -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=30)
    patients = ["patient-00001", "patient-00002"]
    first = _replay(tracker, patients, 0.0)
    second = _replay(tracker, patients, 35.0)  # same ids, seq from 0 again, 35 s later
    assert sorted(a.patient for a in first) == patients
    assert sorted(a.patient for a in second) == patients  # was: 0 alerts, all stale
    assert [(a.first_seq, a.last_seq) for a in second] == [(0, 2), (0, 2)]
    c = tracker.counters
    assert (c.restarts, c.stale, c.duplicates) == (2, 0, 0)
    assert "patient-00001: beat numbering restarted (seq 0 after 39" in caplog.text


def test_beats_of_the_old_numbering_after_a_restart_are_stale_not_new() -> None:
    tracker = AlertTracker(m=2, n=5, cooldown_s=0)
    for seq in range(100, 104):
        tracker.observe(record("p", seq, seq - 100, anomalous=False))
    tracker.observe(record("p", 0, 10))  # restart: the new numbering starts at 0
    # A re-delivered beat of the old run (sent at 2 s) must not become the newest beat.
    assert tracker.observe(record("p", 102, 11, sent_s=2)) is None
    assert tracker.observe(record("p", 1, 12)) is not None  # window (−4, 1] holds 0 and 1
    c = tracker.counters
    assert (c.restarts, c.stale) == (1, 1)


def test_redelivered_beats_keep_their_send_time_and_never_count_as_a_restart() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=0)
    sent = [record("p", seq, seq) for seq in range(10)]
    for rec in sent + sent[3:]:  # a crash repeats seq 3..9, published later, same send times
        tracker.observe(rec.model_copy(update={"published_ms": rec.published_ms + 60_000}))
    c = tracker.counters
    assert (c.restarts, c.duplicates, c.stale) == (0, 7, 0)  # remembered beyond the window


# --- continuous mode: identity by onset, across owners -------------------------------------

FS = 140  # samples per second of the simulated stream (one 140-sample beat per second)


def beat(k: int, owner: str, seq: int, shift: int = 0, published_s: float | None = None,
         anomalous: bool = True, length: int = 140, patient: str = "patient-00003"
         ) -> ScoreRecord:
    """Beat k of a 140-sample rhythm, cut by ``owner`` as its ``seq``-th beat, onset shifted."""
    onset = 140 * k + shift
    sent = T0 + round((onset + 4.5 * 140) / FS * 1000)  # the frame that completed it
    published = sent + 50 if published_s is None else T0 + round(published_s * 1000)
    return ScoreRecord(patient=patient, mode="continuous", seq=seq, onset_sample=onset,
                       score=1.0 + k / 100, threshold=0.5, threshold_source="static",
                       anomalous=anomalous, model_version="t",
                       resampled_from=None if length == 140 else length, sent_ms=sent,
                       received_ms=published, published_ms=published, worker=owner)


ANOMALOUS = {k for k in range(60) if k % 7 in (0, 2, 3, 5)} | {27, 28, 29, 30, 31}
SHIFTS = [0, 5, -3, 14, -14, 9, -7, 2, 12, -11]  # a new owner's re-cut: onsets a few samples off


def _owner_change() -> tuple[list[ScoreRecord], list[ScoreRecord]]:
    """The anomalies a crash gives (first owner beats 0-29, second re-cuts 22-59 from seq 0),
    and the same beats without the crash's re-cuts of 22-29."""
    first = [beat(k, "w1", seq=k) for k in range(30) if k in ANOMALOUS]
    crash_s = (first[-1].published_ms - T0) / 1000 + 5  # the new owner takes 5 s to start
    second = [beat(k, "w2", seq=k - 22, shift=SHIFTS[k % 10], published_s=crash_s + (k - 22) / 10)
              for k in range(22, 60) if k in ANOMALOUS]
    return first + second, first + [r for r in second if r.onset_sample >= 30 * 140 - 14]


def test_owner_change_with_seq_restarting_at_0_drops_no_anomaly_and_alerts_as_without() -> None:
    crashed, clean = _owner_change()
    with_crash = AlertTracker(m=3, n=5, cooldown_s=2)
    alerts = [a for a in map(with_crash.observe, crashed) if a is not None]
    without = AlertTracker(m=3, n=5, cooldown_s=2)
    expected = [a for a in map(without.observe, clean) if a is not None]
    assert alerts == expected and len(expected) >= 5
    c = with_crash.counters
    recut = len(crashed) - len(clean)
    assert c.duplicates == recut and (c.stale, c.restarts) == (0, 0)
    assert without.counters.stale == without.counters.duplicates == 0
    # An alert whose window spans the change of owner: onsets of both owners' beats.
    assert any(a.first_seq < 30 * 140 <= a.last_seq for a in alerts)


def test_old_beats_recut_by_a_new_owner_are_stale_and_near_ones_duplicates() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=0)
    for k in range(20):
        tracker.observe(beat(k, "w1", seq=k, anomalous=k >= 15))
    # The new owner re-reads from beat 10 and judges all anomalous: 10-14 (normal before)
    # are older than the window (15-19), so stale; 15-19 are near-duplicates.
    for k in range(10, 20):
        assert tracker.observe(beat(k, "w2", seq=k - 10, shift=-14 if k % 2 else 14)) is None
    c = tracker.counters
    assert (c.stale, c.duplicates, c.restarts) == (5, 5, 0)


def test_continuous_window_is_the_last_n_beats_by_onset() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=0)
    # Anomalies at beats 0, 3, 5: beat 0 is 5 beats before 5, outside the last 5 beats (1-5).
    assert [tracker.observe(beat(k, "w", seq=k)) for k in (0, 3, 5)] == [None, None, None]
    alert = tracker.observe(beat(6, "w", seq=6))  # 3, 5, 6 are among the last 5 (2-6)
    assert alert is not None and (alert.first_seq, alert.last_seq) == (3 * 140, 6 * 140)


def test_continuous_window_follows_the_beat_length() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=0)
    onsets = [0, 500, 850]  # 200-sample beats (a 200 Hz stream, or a slow heart)
    alerts = [tracker.observe(beat(0, "w", seq=i, shift=o, length=200))
              for i, o in enumerate(onsets)]
    assert alerts[-1] is not None  # 0 lies within 4.5 beats of 200 samples of 850
    narrow = AlertTracker(m=3, n=5, cooldown_s=0)
    assert [narrow.observe(beat(0, "w", seq=i, shift=o)) for i, o in enumerate(onsets)] == [
        None, None, None]  # with 140-sample beats 0 is 6 beats before 850


def test_continuous_producer_restart_resets_the_window() -> None:
    tracker = AlertTracker(m=2, n=5, cooldown_s=0)
    for k in range(100, 110):
        tracker.observe(beat(k, "w", seq=k, anomalous=False))
    later = 200.0  # the producer starts the signal again at sample 0, 200 s later
    got = [tracker.observe(beat(k, "w", seq=k, published_s=later + k)
                           .model_copy(update={"sent_ms": T0 + round((later + k) * 1000)}))
           for k in range(2)]
    assert got[0] is None and got[1] is not None
    assert (tracker.counters.restarts, tracker.counters.stale) == (1, 0)


# --- bounded memory ------------------------------------------------------------------------

def test_windows_of_idle_patients_expire_so_memory_stays_bounded() -> None:
    tracker = AlertTracker(m=3, n=5, cooldown_s=1, idle_s=10)
    most = 0
    for i in range(20_000):  # a new patient id every beat, 100 beats/s of event time
        tracker.observe(record(f"p-{i}", 0, i / 100))
        most = max(most, len(tracker))
    assert most <= 10 * 100 + 1  # the patients of the last idle_s
    assert tracker.counters.expired == 20_000 - len(tracker)


def test_expiry_is_by_event_time_and_never_ends_a_cool_down() -> None:
    tracker = AlertTracker(m=1, n=5, cooldown_s=60, idle_s=10)
    assert tracker.observe(record("p", 0, 0)) is not None
    tracker.observe(record("q", 0, 30))   # p idle 30 s: kept, its cool-down runs to 60 s
    assert tracker.observe(record("p", 1, 31)) is None and tracker.suppressed("p") == 1
    tracker.observe(record("q", 1, 80))   # p idle 49 s < max(idle, cool-down) = 60 s: kept
    assert tracker.counters.expired == 0
    tracker.observe(record("q", 2, 92))   # p idle 61 s: expired; q idle 12 s: kept
    assert tracker.counters.expired == 1 and len(tracker) == 1
    assert tracker.observe(record("p", 2, 101)) is not None  # a fresh window


def test_from_beginning_rewinds_each_partition_once_across_rebalances() -> None:
    from stream.alerts.consumer import _Rewind

    class Consumer:
        def __init__(self) -> None:
            self.sought: list[tuple[str, ...]] = []

        def seek_to_beginning(self, *partitions: str) -> None:
            self.sought.append(partitions)

    consumer = Consumer()
    listener = _Rewind(consumer)  # type: ignore[arg-type]
    listener.on_partitions_assigned(["anomalies-0", "anomalies-1"])
    # Another topic's metadata arrives: a rebalance hands the same partitions back, plus one.
    listener.on_partitions_assigned(["anomalies-0", "anomalies-1", "events-0"])
    listener.on_partitions_assigned([])
    assert consumer.sought == [("anomalies-0", "anomalies-1"), ("events-0",)]
