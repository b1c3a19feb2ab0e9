"""The m-of-n alert rule: firing, cool-down, duplicates, stale and independent patients."""

from __future__ import annotations

import pytest

from stream.alerting import AlertTracker, format_alert
from stream.schemas import Alert, ScoreRecord

T0 = 1_700_000_000_000  # epoch ms


def record(patient: str, seq: int, t_s: float, score: float = 0.9,
           anomalous: bool = True) -> ScoreRecord:
    ms = T0 + round(t_s * 1000)
    return ScoreRecord(patient=patient, mode="beat", seq=seq, score=score, threshold=0.5,
                       threshold_source="static", anomalous=anomalous, model_version="t",
                       sent_ms=ms, received_ms=ms, published_ms=ms)


# (patient, seq, time s, expected outcome) with m=3, n=5, cool-down 10 s.
# outcome: "alert", "-" (nothing), "suppressed", "duplicate", "stale".
SCRIPT = [
    ("p1", 1, 0.0, "-"),
    ("p1", 3, 1.0, "-"),
    ("p1", 3, 1.5, "duplicate"),      # re-delivered: must not count twice
    ("p2", 4, 1.6, "-"),              # other patient, own window
    ("p1", 6, 2.0, "-"),              # window (1, 6]: seqs 3, 6 -> 2 anomalies
    ("p1", 7, 3.0, "alert"),          # window (2, 7]: 3, 6, 7 -> fires at the m-th
    ("p1", 8, 4.0, "suppressed"),     # window (3, 8]: 6, 7, 8; cool-down until t=13
    ("p1", 8, 4.1, "duplicate"),
    ("p1", 2, 4.2, "stale"),          # 2 <= 8 - 5: no longer among the last 5 beats
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
    outcomes = [_outcome(tracker, record(p, s, t))[0] for p, s, t, _ in SCRIPT]
    assert outcomes == [expected for *_, expected in SCRIPT]
    c = tracker.counters
    assert (c.events, c.alerts, c.suppressed, c.duplicates, c.stale) == (16, 4, 2, 2, 1)
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


@pytest.mark.parametrize(("m", "n", "cooldown"), [(0, 5, 1), (6, 5, 1), (2, 5, -1)])
def test_invalid_rule(m: int, n: int, cooldown: float) -> None:
    with pytest.raises(ValueError, match="need|cool-down"):
        AlertTracker(m, n, cooldown)


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
