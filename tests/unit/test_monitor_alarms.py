"""Monitor alarms (PhysioNet/CinC 2015 definitions) from score records and signal events."""

from __future__ import annotations

from stream.alerts.monitor import MonitorRules, MonitorTracker
from stream.alerts.rule import format_alert
from stream.wire.schemas import ScoreRecord, SignalEvent

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
    alarm = found[0][1]
    assert found[0][0] == 0 and alarm.window == 5 and alarm.heart_rate_bpm == 38.0
    assert alarm.category == "clinical" and alarm.max_score is None
    assert "bradycardia: 5 beats at 38 bpm" in format_alert(alarm)


def test_tachycardia_needs_seventeen_beats_in_a_row() -> None:
    assert alarms(MonitorTracker(), records([150.0] * 16 + [90.0] + [150.0] * 16)) == []
    assert alarms(MonitorTracker(), records([150.0] * 17)) == ["tachycardia"]


def test_ventricular_tachycardia_is_five_fast_beats_anomalous_for_morphology() -> None:
    assert alarms(MonitorTracker(), records([120.0] * 5, reason="morphology")) == [
        "ventricular_tachycardia"]
    assert alarms(MonitorTracker(), records([120.0] * 8, reason="rhythm")) == []
    assert alarms(MonitorTracker(), records([90.0] * 8, reason="morphology")) == []


def test_duplicates_ignored_and_a_beat_without_a_rate_breaks_a_run() -> None:
    tracker = MonitorTracker()
    recs = records([150.0] * 17)
    assert alarms(tracker, recs) == ["tachycardia"]
    assert alarms(tracker, recs) == [] and tracker.counters.duplicates == 17
    assert alarms(MonitorTracker(), records([38.0] * 4 + [None] + [38.0] * 4)) == []


def event(kind: str, phase: str, t_ms: int, patient: str = "p", since: int = 1000,
          at: int = 2250) -> SignalEvent:
    return SignalEvent.model_validate({
        "schema": 1, "patient": patient, "kind": kind,
        "category": "clinical" if kind == "pause" else "technical", "phase": phase,
        "since_sample": since, "at_sample": at, "duration_ms": 5000.0, "fs": FS,
        "sent_ms": t_ms, "published_ms": t_ms})


def test_a_pause_event_is_an_asystole_alarm_once_per_pause() -> None:
    tracker = MonitorTracker(MonitorRules(cooldown_s=30.0))
    [alarm] = tracker.observe_event(event("pause", "start", 10_000))
    assert (alarm.kind, alarm.category, alarm.first_seq, alarm.last_seq) == (
        "asystole", "clinical", 1000, 2250)
    assert "pause for 5.0 s" in alarm.detail
    assert format_alert(alarm).endswith("ALARM patient p: asystole: pause for 5.0 s "
                                        "(samples 1000-2250)")
    # The same start again (a new owner re-reading the frames) raises nothing.
    assert tracker.observe_event(event("pause", "start", 10_500)) == []
    assert tracker.counters.repeated_events == 1
    assert tracker.observe_event(event("pause", "end", 12_000)) == []
    # Another pause within the cool-down is suppressed; after it, alarmed again.
    assert tracker.observe_event(event("pause", "start", 20_000)) == []
    tracker.observe_event(event("pause", "end", 21_000))
    assert [a.kind for a in tracker.observe_event(event("pause", "start", 41_000))] == [
        "asystole"]


def test_lead_off_and_signal_lost_are_technical_and_break_the_runs() -> None:
    tracker = MonitorTracker()
    assert alarms(tracker, records([150.0] * 10)) == []
    [off] = tracker.observe_event(event("lead_off", "start", 9_000))
    assert (off.kind, off.category) == ("lead_off", "technical")
    assert format_alert(off).split(" ", 1)[1].startswith("TECHNICAL patient p: lead off")
    # The run before the lead went off does not count on: 7 more fast beats raise nothing.
    assert alarms(tracker, records([150.0] * 7, start=50_000)) == []
    [lost] = tracker.observe_event(event("signal_lost", "start", 60_000))
    assert (lost.kind, lost.category) == ("signal_lost", "technical")
