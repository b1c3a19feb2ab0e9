"""Monitor alarms (PhysioNet/CinC 2015 definitions) from a patient's score records."""

from __future__ import annotations

from stream.alerts.monitor import MonitorRules, MonitorTracker
from stream.wire.schemas import ScoreRecord

FS = 250.0


def records(rates: list[float | None], *, reason: str | None = None, start: int = 0,
            patient: str = "p") -> list[ScoreRecord]:
    out, onset, t = [], start, 0
    for i, rate in enumerate(rates):
        rr = 60_000.0 / rate if rate else None
        onset += round((rr or 800.0) * FS / 1000)
        t += round(rr or 800.0)
        out.append(ScoreRecord(patient=patient, mode="continuous", seq=i, onset_sample=onset,
                               score=1.0, threshold=2.0, threshold_source="static",
                               anomalous=reason is not None, anomaly_reason=reason,
                               judged_by="patient", model_version="m", rr_before_ms=rr,
                               heart_rate_bpm=rate, sent_ms=t, received_ms=t,
                               published_ms=t))
    return out


def alarms(tracker: MonitorTracker, recs: list[ScoreRecord]) -> list[str]:
    return [a.kind for r in recs for a in tracker.observe(r)]


def test_a_normal_rhythm_raises_nothing() -> None:
    assert alarms(MonitorTracker(), records([72.0] * 200)) == []


def test_bradycardia_after_five_slow_beats_then_quiet_for_the_cooldown() -> None:
    tracker = MonitorTracker(MonitorRules(cooldown_s=30.0))
    assert alarms(tracker, records([70.0] * 5 + [38.0] * 4)) == []
    more = records([38.0] * 12, start=10_000)
    found = [(i, a) for i, r in enumerate(more) for a in tracker.observe(r)]
    assert [a.kind for _, a in found] == ["bradycardia"]
    assert found[0][0] == 0 and found[0][1].beats == 5 and found[0][1].heart_rate_bpm == 38.0


def test_tachycardia_needs_seventeen_beats_in_a_row() -> None:
    assert alarms(MonitorTracker(), records([150.0] * 16 + [90.0] + [150.0] * 16)) == []
    assert alarms(MonitorTracker(), records([150.0] * 17)) == ["tachycardia"]


def test_ventricular_tachycardia_is_five_fast_beats_anomalous_for_morphology() -> None:
    assert alarms(MonitorTracker(), records([120.0] * 5, reason="morphology")) == [
        "ventricular_tachycardia"]
    assert alarms(MonitorTracker(), records([120.0] * 8, reason="rhythm")) == []
    assert alarms(MonitorTracker(), records([90.0] * 8, reason="morphology")) == []


def test_asystole_from_the_beat_after_a_pause_and_duplicates_ignored() -> None:
    tracker = MonitorTracker()
    recs = records([70.0] * 3 + [14.0])  # 4.3 s before the fourth beat
    assert alarms(tracker, recs) == ["asystole"]
    assert alarms(tracker, recs) == [] and tracker.duplicates == 4
    # A beat without a heart rate (after a gap) breaks a run.
    assert alarms(MonitorTracker(), records([38.0] * 4 + [None] + [38.0] * 4)) == []
