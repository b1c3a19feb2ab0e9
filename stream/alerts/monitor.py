"""Monitor alarms from a patient's beat stream (continuous mode), pure logic.

The definitions of the PhysioNet/CinC 2015 challenge on false ICU alarms, each a setting of
:class:`MonitorRules`:

- **extreme bradycardia**: heart rate below 40 bpm for 5 consecutive beats;
- **extreme tachycardia**: heart rate above 140 bpm for 17 consecutive beats;
- **ventricular tachycardia** (approximated): 5 or more consecutive beats anomalous for
  morphology at a heart rate above 100 bpm;
- **asystole**: no beat for 4 s or more, here seen from the beat after the pause (its RR
  before); a pause the worker sees while no beat comes yet is not known to this module.

Ventricular fibrillation (a fibrillatory waveform, no beats to cut) is out of scope. Each
alarm kind of a patient is raised once and then quiet for ``cooldown_s`` (event time: the
records' ``published_ms``). The heart rate is the score record's ``heart_rate_bpm`` (60 / the
RR interval before the beat); a beat without one (the first, after a gap) breaks a run.
A record of a beat seen already (same onset) is a duplicate and changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from stream.wire.schemas import ScoreRecord

AlarmKind = Literal["asystole", "bradycardia", "tachycardia", "ventricular_tachycardia"]


@dataclass(frozen=True)
class MonitorRules:
    """The alarm definitions (PhysioNet/CinC 2015 by default)."""

    asystole_s: float = 4.0
    brady_bpm: float = 40.0
    brady_beats: int = 5
    tachy_bpm: float = 140.0
    tachy_beats: int = 17
    vt_bpm: float = 100.0
    vt_beats: int = 5
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class MonitorAlarm:
    """One alarm: its kind, the patient, the beats (onset samples) and the rate that made it."""

    patient: str
    kind: AlarmKind
    first_onset: int
    last_onset: int
    beats: int
    heart_rate_bpm: float | None
    raised_ms: int


@dataclass
class _Runs:
    """One patient's current runs: (first onset, beats, last rate) per condition."""

    brady: list[tuple[int, float]] = field(default_factory=list)
    tachy: list[tuple[int, float]] = field(default_factory=list)
    vt: list[tuple[int, float]] = field(default_factory=list)
    last_onset: int | None = None
    quiet_until: dict[str, int] = field(default_factory=dict)


class MonitorTracker:
    """Monitor alarms of every patient; feed it each score record of ``ecg.scores`` in order.

    At most ``max_patients`` patients are tracked (the least recently seen dropped first).
    """

    def __init__(self, rules: MonitorRules | None = None, max_patients: int = 100_000) -> None:
        self.rules = rules or MonitorRules()
        self.max_patients = max_patients
        self._patients: OrderedDict[str, _Runs] = OrderedDict()
        self.duplicates = 0

    def observe(self, record: ScoreRecord) -> list[MonitorAlarm]:
        """The alarms this record raises (usually none)."""
        if record.mode != "continuous" or record.onset_sample is None:
            return []
        runs = self._runs(record.patient)
        onset = record.onset_sample
        if runs.last_onset is not None and onset <= runs.last_onset:
            self.duplicates += 1
            return []
        runs.last_onset = onset
        rate, rules, out = record.heart_rate_bpm, self.rules, []
        morphology = record.anomaly_reason in ("morphology", "both")
        if (record.rr_before_ms is not None and record.rr_before_ms >= 1000 * rules.asystole_s):
            out.append(self._raise(record, runs, "asystole", [(onset, rate or 0.0)]))
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
                out.append(self._raise(record, runs, kind, run))  # type: ignore[arg-type]
        return [alarm for alarm in out if alarm is not None]

    def _raise(self, record: ScoreRecord, runs: _Runs, kind: AlarmKind,
               run: list[tuple[int, float]]) -> MonitorAlarm | None:
        now = record.published_ms
        if now < runs.quiet_until.get(kind, -1):
            return None
        runs.quiet_until[kind] = now + round(1000 * self.rules.cooldown_s)
        rates = [r for _, r in run if r]
        return MonitorAlarm(record.patient, kind, run[0][0], run[-1][0], len(run),
                            round(sum(rates) / len(rates), 1) if rates else None, now)

    def _runs(self, patient: str) -> _Runs:
        runs = self._patients.get(patient)
        if runs is None:
            runs = self._patients[patient] = _Runs()
            while len(self._patients) > self.max_patients:
                self._patients.popitem(last=False)
        else:
            self._patients.move_to_end(patient)
        return runs
