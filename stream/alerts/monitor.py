"""Monitor alarms from a patient's beat stream and signal events (continuous mode), pure logic.

The definitions of the PhysioNet/CinC 2015 challenge on false ICU alarms, each a setting of
:class:`MonitorRules` (``ECG_ALARM_*``):

- **asystole**: no beat for 4 s or more. The worker sees it (frames arrive, no beat comes)
  and publishes a ``pause`` event on ``ecg.events`` (:mod:`stream.segmentation.watch`); the
  beat after a pause has no RR interval before it (the QRS segmenter drops an interval
  longer than 3 s), so the alarm never comes from the beats themselves;
- **extreme bradycardia**: heart rate below 40 bpm for 5 consecutive beats;
- **extreme tachycardia**: heart rate above 140 bpm for 17 consecutive beats;
- **ventricular tachycardia** (approximated): 5 or more consecutive beats anomalous for
  morphology at a heart rate above 100 bpm.

Technical alarms, never clinical ones: ``lead_off`` (a flat or saturated signal) and
``signal_lost`` (frames stopped), from the worker's events. While the lead is off or the
signal lost no clinical alarm can come from that stretch: the beats around it have no RR.

Ventricular fibrillation (a fibrillatory waveform, no beats to cut) is out of scope. Each
alarm kind of a patient is raised once and then quiet for ``cooldown_s`` (event time: the
records' and events' ``published_ms``); a condition's ``start`` event repeated while it is
active (a new owner re-reading the frames) raises nothing. The heart rate is the score
record's ``heart_rate_bpm`` (60 / the RR interval before the beat); a beat without one (the
first, after a gap) breaks a run. A record of a beat seen already (same onset) is a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from stream.settings import Settings
from stream.wire.schemas import Alert, AlertKind, ScoreRecord, SignalEvent

CLINICAL_KINDS: tuple[AlertKind, ...] = ("asystole", "bradycardia", "tachycardia",
                                         "ventricular_tachycardia")
TECHNICAL_KINDS: tuple[AlertKind, ...] = ("lead_off", "signal_lost")
_EVENT_ALARM: dict[str, AlertKind] = {"pause": "asystole", "lead_off": "lead_off",
                                      "signal_lost": "signal_lost"}


@dataclass(frozen=True)
class MonitorRules:
    """The alarm definitions (PhysioNet/CinC 2015 by default)."""

    brady_bpm: float = 40.0
    brady_beats: int = 5
    tachy_bpm: float = 140.0
    tachy_beats: int = 17
    vt_bpm: float = 100.0
    vt_beats: int = 5
    cooldown_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitorRules:
        """The rules of ``ECG_ALARM_*`` and the cool-down ``ECG_ALERT_COOLDOWN_S``."""
        return cls(settings.alarm_brady_bpm, settings.alarm_brady_beats,
                   settings.alarm_tachy_bpm, settings.alarm_tachy_beats, settings.alarm_vt_bpm,
                   settings.alarm_vt_beats, settings.alert_cooldown_s)


@dataclass
class MonitorCounters:
    """What the monitor did (all counts)."""

    records: int = 0
    events: int = 0
    alarms: int = 0
    suppressed: int = 0
    duplicates: int = 0
    repeated_events: int = 0


@dataclass
class _Runs:
    """One patient's current runs (onset, rate), the conditions active, the cool-downs."""

    brady: list[tuple[int, float]] = field(default_factory=list)
    tachy: list[tuple[int, float]] = field(default_factory=list)
    vt: list[tuple[int, float]] = field(default_factory=list)
    last_onset: int | None = None
    active: set[str] = field(default_factory=set)
    quiet_until: dict[str, int] = field(default_factory=dict)


class MonitorTracker:
    """Monitor and technical alarms of every patient.

    Feed it each score record of ``ecg.scores`` (:meth:`observe`) and each event of
    ``ecg.events`` (:meth:`observe_event`), each patient's in order. At most ``max_patients``
    patients are tracked (the least recently seen dropped first).
    """

    def __init__(self, rules: MonitorRules | None = None, max_patients: int = 100_000) -> None:
        self.rules = rules or MonitorRules()
        self.max_patients = max_patients
        self._patients: OrderedDict[str, _Runs] = OrderedDict()
        self.counters = MonitorCounters()

    def observe(self, record: ScoreRecord) -> list[Alert]:
        """The alarms this score record raises (usually none)."""
        if record.mode != "continuous" or record.onset_sample is None:
            return []
        self.counters.records += 1
        runs = self._runs(record.patient)
        onset = record.onset_sample
        if runs.last_onset is not None and onset <= runs.last_onset:
            self.counters.duplicates += 1
            return []
        runs.last_onset = onset
        rate, rules, out = record.heart_rate_bpm, self.rules, []
        morphology = record.anomaly_reason in ("morphology", "both")
        kind: AlertKind
        for name, holds, needed, kind in (
                ("brady", rate is not None and rate < rules.brady_bpm, rules.brady_beats,
                 "bradycardia"),
                ("tachy", rate is not None and rate > rules.tachy_bpm, rules.tachy_beats,
                 "tachycardia"),
                ("vt", morphology and rate is not None and rate > rules.vt_bpm, rules.vt_beats,
                 "ventricular_tachycardia")):
            run: list[tuple[int, float]] = getattr(runs, name)
            if not holds:
                run.clear()
                continue
            run.append((onset, rate or 0.0))
            if len(run) >= needed:
                alarm = self._raise(runs, record.patient, kind, record.published_ms, run[0][0],
                                    run[-1][0], run)
                if alarm is not None:
                    out.append(alarm)
        return out

    def observe_event(self, event: SignalEvent) -> list[Alert]:
        """The alarm a signal event raises (a condition's start, once), if any."""
        self.counters.events += 1
        runs = self._runs(event.patient)
        if event.phase == "end":
            runs.active.discard(event.kind)
            return []
        if event.kind in runs.active:
            self.counters.repeated_events += 1
            return []
        runs.active.add(event.kind)
        for run in (runs.brady, runs.tachy, runs.vt):
            run.clear()  # a pause or a technical stretch breaks every run
        detail = f"{event.kind} for {event.duration_ms / 1000:.1f} s"
        if event.detail:
            detail += f" ({event.detail})"
        alarm = self._raise(runs, event.patient, _EVENT_ALARM[event.kind], event.published_ms,
                            event.since_sample or 0, event.at_sample or 0, None, detail)
        return [alarm] if alarm is not None else []

    def _raise(self, runs: _Runs, patient: str, kind: AlertKind, now: int, first: int,
               last: int, run: list[tuple[int, float]] | None, detail: str = ""
               ) -> Alert | None:
        """The alarm unless ``kind`` is cooling down; ``run``: its beats (None: an event)."""
        if now < runs.quiet_until.get(kind, -1):
            self.counters.suppressed += 1
            return None
        rates = [r for _, r in run or () if r]  # after the cool-down: once per alarm
        rate = round(sum(rates) / len(rates), 1) if rates else None
        beats = len(run) if run else 0
        runs.quiet_until[kind] = now + round(1000 * self.rules.cooldown_s)
        self.counters.alarms += 1
        category = "technical" if kind in TECHNICAL_KINDS else "clinical"
        return Alert(patient=patient, anomalies=beats, window=beats, first_seq=first,
                     last_seq=last, raised_ms=now, max_score=None, kind=kind,
                     category=category, heart_rate_bpm=rate, detail=detail)

    def _runs(self, patient: str) -> _Runs:
        runs = self._patients.get(patient)
        if runs is None:
            runs = self._patients[patient] = _Runs()
            while len(self._patients) > self.max_patients:
                self._patients.popitem(last=False)
        else:
            self._patients.move_to_end(patient)
        return runs
