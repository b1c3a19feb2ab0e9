"""What the ward board shows: every patient's latest state, built from the output topics.

Pure (no Kafka, no web server). :class:`Board` takes decoded records of ``ecg.scores``,
``ecg.alerts``, ``ecg.events``, ``ecg.signal`` and ``ecg.beats`` in any order and answers
:meth:`Board.overview` (one row per patient: state, heart rate, last anomaly, alert, learning)
and :meth:`Board.patient_view` (one patient: the last seconds of signal in physical units with
the beat marks, or in beat mode the last beats, and the patient's recent anomalies, alarms and
events).

Memory is bounded: at most ``max_patients`` patients (the least recently updated is dropped),
each with a ring of ``strip_s`` seconds of signal (float32: 14 KB at 360 Hz and 10 s), its
last ``marks`` beat marks, ``beats`` input beats (beat mode) and ``recent`` anomalies, alarms
and events.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_INT = 2**63 - 1
CONDITION_GRACE_MS = 2000
"""A pause, lead off or signal lost is over once a beat is scored this long after it began."""
RESTART_STRIPS = 6
"""A frame this many strip lengths before the strip's end is the source starting again
(a restarted producer numbers its samples from 0 again), not a late frame: a new strip."""

TO_MV: dict[str, float] = {"mV": 1.0, "uV": 1e-3, "V": 1e3}
"""Factor from a frame's physical units to millivolts; ADC counts have no fixed one."""
STATE_ORDER = ("alarm", "technical", "anomaly", "stale", "learning", "normal", "waiting")
"""Board order: clinical alarms first, then technical ones, recent anomalies, silent patients."""


@dataclass
class Strip:
    """The last ``capacity`` samples of one patient's signal, a ring indexed by signal sample.

    Frames may arrive late, twice or out of order: each lands at its own sample index; a
    sample never received reads NaN (a gap), a frame older than the ring is ignored.
    """

    fs: float
    units: str | None
    capacity: int
    end: int = 0  # signal index one past the newest sample held
    values: NDArray[np.float32] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.values = np.full(self.capacity, np.nan, dtype=np.float32)

    def add(self, start: int, samples: NDArray[np.float32]) -> None:
        """Place ``samples`` (signal indices ``start`` on)."""
        stop = start + samples.size
        if stop <= self.end - self.capacity or samples.size == 0:
            return
        if stop > self.end:
            cleared = np.arange(max(self.end, stop - self.capacity), stop)
            self.values[cleared % self.capacity] = np.nan
            self.end = stop
        lo = max(start, self.end - self.capacity)
        self.values[np.arange(lo, stop) % self.capacity] = samples[lo - start:]

    def window(self) -> tuple[int, NDArray[np.float32]]:
        """(signal index of the first value, the values in signal order, NaN where missing)."""
        first = max(0, self.end - self.capacity)
        return first, self.values[np.arange(first, self.end) % self.capacity]


@dataclass
class _Patient:
    patient: str
    marks: deque[dict[str, Any]]
    beats: deque[dict[str, Any]]
    anomaly_log: deque[dict[str, Any]]
    alarm_log: deque[dict[str, Any]]
    event_log: deque[dict[str, Any]]
    heart_rates: deque[float]
    mode: str | None = None
    scored: int = 0
    anomalies: int = 0
    alarms: int = 0
    last_score_ms: int | None = None
    updated_ms: int = 0
    judged_by: str | None = None
    learning_beats: int = 0
    degraded: bool = False
    worker: str = ""
    model_version: str = ""
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    strip: Strip | None = None


def _age_s(now_ms: int, then_ms: int | None) -> float | None:
    return None if then_ms is None else round(max(0, now_ms - then_ms) / 1000, 1)


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON null, a missing field, NaN, infinity, a huge integer)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    """An integer within 0..2**63-1, or None (the records' counts and sample indices)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        return None
    return value


def _text(value: Any, limit: int = 300) -> str | None:
    """A string cut to ``limit`` characters, or None."""
    return value[:limit] if isinstance(value, str) else None


def _ms(value: Any, now_ms: int) -> int:
    """A record's wall-clock time in ms, or ``now_ms`` when absent or over an hour ahead.

    So no record holds a state forever or breaks the page's clock.
    """
    stamp = _int(value)
    return stamp if stamp is not None and stamp <= now_ms + 3_600_000 else now_ms


@dataclass
class Board:
    """Every patient's latest state, from the records of the output topics.

    ``alarm_hold_s``: an alarm shows as the patient's state this long after it was raised
    (the alert consumer's cool-down: it raises no second alarm of a kind within it).
    ``anomaly_hold_s``: likewise for the last anomalous beat. ``stale_s``: a patient with no
    scored beat for this long (by the board's clock) shows as silent.
    """

    strip_s: float = 10.0
    max_patients: int = 10_000
    marks: int = 64
    beats: int = 8
    recent: int = 20
    alarm_hold_s: float = 60.0
    anomaly_hold_s: float = 60.0
    stale_s: float = 10.0
    learning_s: float = 300.0
    records: dict[str, int] = field(default_factory=dict)
    _patients: OrderedDict[str, _Patient] = field(default_factory=OrderedDict, repr=False)

    def __len__(self) -> int:
        return len(self._patients)

    def _get(self, patient: str, now_ms: int) -> _Patient:
        state = self._patients.get(patient)
        if state is None:
            state = _Patient(patient, deque(maxlen=self.marks), deque(maxlen=self.beats),
                             deque(maxlen=self.recent), deque(maxlen=self.recent),
                             deque(maxlen=self.recent), deque(maxlen=8))
            self._patients[patient] = state
            while len(self._patients) > self.max_patients:
                self._patients.popitem(last=False)
        else:
            self._patients.move_to_end(patient)
        state.updated_ms = now_ms
        return state

    def _count(self, topic: str) -> None:
        self.records[topic] = self.records.get(topic, 0) + 1

    def take_score(self, record: dict[str, Any], now_ms: int) -> None:
        """One ``ecg.scores`` record (a :class:`~stream.wire.schemas.ScoreRecord` as JSON)."""
        self._count("scores")
        state = self._get(str(record["patient"]), now_ms)
        published = _ms(record.get("published_ms"), now_ms)
        state.mode = _text(record.get("mode"), 16) or state.mode
        state.scored += 1
        state.last_score_ms = max(state.last_score_ms or 0, published)
        state.judged_by = _text(record.get("judged_by"), 16) or state.judged_by
        state.learning_beats += state.judged_by == "learning"
        state.degraded = record.get("degraded") is True
        state.worker = _text(record.get("worker"), 128) or ""
        state.model_version = _text(record.get("model_version"), 128) or ""
        rate = _number(record.get("heart_rate_bpm"))
        if rate is not None:
            state.heart_rates.append(rate)
        sample = _int(record.get("fiducial_sample"))
        if sample is None:
            sample = _int(record.get("onset_sample"))
        premature = record.get("premature")
        mark = {"seq": _int(record.get("seq")), "sample": sample,
                "anomalous": record.get("anomalous") is True,
                "reason": _text(record.get("anomaly_reason"), 16),
                "score": _number(record.get("score")), "published_ms": published,
                "heart_rate_bpm": rate,
                "premature": premature if isinstance(premature, bool) else None}
        # A beat scored after a condition began ends it, even if its end event was lost.
        for kind, condition in list(state.conditions.items()):
            if published > condition["published_ms"] + CONDITION_GRACE_MS:
                del state.conditions[kind]
        state.marks.append(mark)
        if mark["anomalous"]:
            state.anomalies += 1
            state.anomaly_log.append(mark)

    def take_alert(self, record: dict[str, Any], now_ms: int) -> None:
        """One ``ecg.alerts`` record (an :class:`~stream.wire.schemas.Alert` as JSON)."""
        self._count("alerts")
        state = self._get(str(record["patient"]), now_ms)
        alarm = {
            "kind": _text(record.get("kind"), 32) or "anomaly_run",
            "category": "technical" if record.get("category") == "technical" else "clinical",
            "raised_ms": _ms(record.get("raised_ms"), now_ms),
            "heart_rate_bpm": _number(record.get("heart_rate_bpm")),
            "detail": _text(record.get("detail")) or "",
            "first_seq": _int(record.get("first_seq")), "last_seq": _int(record.get("last_seq"))}
        state.alarms += 1
        state.alarm_log.append(alarm)

    def take_event(self, record: dict[str, Any], now_ms: int) -> None:
        """One ``ecg.events`` record (a :class:`~stream.wire.schemas.SignalEvent` as JSON)."""
        self._count("events")
        state = self._get(str(record["patient"]), now_ms)
        kind = _text(record.get("kind"), 32) or "event"
        phase = "start" if record.get("phase") == "start" else "end"
        event = {"kind": kind,
                 "category": "clinical" if record.get("category") == "clinical" else "technical",
                 "phase": phase, "published_ms": _ms(record.get("published_ms"), now_ms),
                 "duration_ms": _number(record.get("duration_ms")),
                 "at_sample": _int(record.get("at_sample")),
                 "detail": _text(record.get("detail")) or ""}
        state.event_log.append(event)
        if phase == "start":
            state.conditions[kind] = event
        else:
            state.conditions.pop(kind, None)

    def take_frame(self, patient: str, start: int, fs: float, units: str | None,
                   samples: NDArray[np.float32], now_ms: int) -> None:
        """One ``ecg.signal`` frame (already decoded and validated)."""
        self._count("signal")
        state = self._get(patient, now_ms)
        strip = state.strip
        if (strip is None or strip.fs != fs or strip.units != units
                or start + samples.size <= strip.end - RESTART_STRIPS * strip.capacity):
            strip = state.strip = Strip(fs, units, max(1, round(self.strip_s * fs)))
        strip.add(start, samples)

    def take_beat(self, patient: str, seq: int, samples: NDArray[np.float32],
                  now_ms: int) -> None:  # seq: a validated BeatMessage's
        """One ``ecg.beats`` input beat (beat mode has no signal: the board shows its beats)."""
        self._count("beats")
        state = self._get(patient, now_ms)
        state.beats.append({"seq": seq, "samples": samples})

    # Views --------------------------------------------------------------------------------

    def _state(self, p: _Patient, now_ms: int) -> tuple[str, str, dict[str, Any] | None]:
        """(state, its text, the alarm in force or None) of one patient at ``now_ms``."""
        held = [a for a in p.alarm_log if now_ms - a["raised_ms"] <= self.alarm_hold_s * 1000]
        clinical = [a for a in held if a["category"] == "clinical"]
        technical = [a for a in held if a["category"] != "clinical"]
        if clinical:
            return "alarm", clinical[-1]["kind"].replace("_", " "), clinical[-1]
        ongoing = [c for c in p.conditions.values() if c["category"] == "clinical"]
        if ongoing:  # a pause under way (its asystole alarm, if any, held above)
            return "alarm", ongoing[-1]["kind"].replace("_", " "), None
        conditions = [c for c in p.conditions.values() if c["category"] != "clinical"]
        if conditions or technical:
            kind = conditions[-1]["kind"] if conditions else technical[-1]["kind"]
            return "technical", kind.replace("_", " "), technical[-1] if technical else None
        last = p.anomaly_log[-1] if p.anomaly_log else None
        if last is not None and now_ms - last["published_ms"] <= self.anomaly_hold_s * 1000:
            return "anomaly", f"anomalous beat ({last['reason'] or 'model'})", None
        if p.last_score_ms is None:
            return "waiting", "no beat scored yet", None
        silent_s = (now_ms - p.last_score_ms) / 1000
        if silent_s > self.stale_s:
            return "stale", f"no beat for {silent_s:.0f} s", None
        if p.judged_by == "learning":
            return "learning", "learning its normal", None
        return "normal", "normal", None

    def _row(self, p: _Patient, now_ms: int) -> dict[str, Any]:
        state, text, alarm = self._state(p, now_ms)
        last = p.anomaly_log[-1] if p.anomaly_log else None
        rates = list(p.heart_rates)
        return {
            "patient": p.patient, "state": state, "state_text": text,
            "heart_rate_bpm": round(float(np.median(rates)), 1) if rates else None,
            "mode": p.mode, "beats": p.scored, "anomalies": p.anomalies, "alarms": p.alarms,
            "learning": p.judged_by == "learning", "judged_by": p.judged_by,
            "learning_beats": p.learning_beats,
            "last_beat_ms": p.last_score_ms, "last_beat_age_s": _age_s(now_ms, p.last_score_ms),
            "last_anomaly": None if last is None else {
                "seq": last["seq"], "reason": last["reason"], "published_ms": last["published_ms"],
                "age_s": _age_s(now_ms, last["published_ms"])},
            "alarm": None if alarm is None else {**alarm, "age_s": _age_s(now_ms,
                                                                          alarm["raised_ms"])},
            "last_alarm": p.alarm_log[-1] if p.alarm_log else None,
            "conditions": sorted(p.conditions), "degraded": p.degraded, "worker": p.worker,
            "units": None if p.strip is None else p.strip.units,
        }

    def by_state(self, now_ms: int) -> dict[str, int]:
        """How many patients are in each state (no rows built: for metrics)."""
        counts = dict.fromkeys(STATE_ORDER, 0)
        for p in self._patients.values():
            counts[self._state(p, now_ms)[0]] += 1
        return counts

    def overview(self, now_ms: int) -> dict[str, Any]:
        """Every patient's row, most urgent first; counts of patients by state."""
        scored = [p.last_score_ms for p in self._patients.values() if p.last_score_ms]
        newest = max(scored) if scored else None
        rows = [self._row(p, now_ms) for p in self._patients.values()]
        rank = {name: i for i, name in enumerate(STATE_ORDER)}
        rows.sort(key=lambda r: (rank[r["state"]], r["patient"]))
        by_state = dict.fromkeys(STATE_ORDER, 0)
        for row in rows:
            by_state[row["state"]] += 1
        models = sorted({p.model_version for p in self._patients.values() if p.model_version})
        return {"time_ms": now_ms, "patients": rows, "by_state": by_state,
                "newest_beat_ms": newest, "newest_beat_age_s": _age_s(now_ms, newest),
                "records": dict(self.records), "models": models,
                "learning_s": self.learning_s, "alarm_hold_s": self.alarm_hold_s}

    def patient_view(self, patient: str, now_ms: int) -> dict[str, Any] | None:
        """One patient: the row, the strip with beat marks (or the beats), recent history."""
        p = self._patients.get(patient)
        if p is None:
            return None
        view: dict[str, Any] = {
            "row": self._row(p, now_ms),
            "anomalies": list(p.anomaly_log)[::-1], "alarms": list(p.alarm_log)[::-1],
            "events": list(p.event_log)[::-1], "strip": None, "beats": []}
        if p.strip is not None:
            view["strip"] = _strip_view(p.strip, list(p.marks))
        if p.beats:
            marks = {m["seq"]: m for m in p.marks}
            view["beats"] = [{"seq": b["seq"], "samples": np.round(b["samples"], 4).tolist(),
                              **({k: marks[b["seq"]][k] for k in ("anomalous", "score", "reason")}
                                 if b["seq"] in marks else {"anomalous": None, "score": None,
                                                             "reason": None})}
                             for b in p.beats]
        return view


def unit_label(units: str | None) -> tuple[str, float | None]:
    """(axis label, factor to it): millivolts for physical units, else the units as they are."""
    if units in TO_MV:
        return "mV", TO_MV[units]
    if units == "adc":
        return "ADC counts", 1.0
    return "signal units (not stated by the source)", 1.0


def _strip_view(strip: Strip, marks: list[dict[str, Any]]) -> dict[str, Any]:
    """The strip as the patient page draws it: seconds, values in mV (when physical), marks."""
    first, values = strip.window()
    label, factor = unit_label(strip.units)
    scaled = values.astype(np.float64) * (factor or 1.0)
    in_strip = [m for m in marks if isinstance(m["sample"], int)
                and first <= m["sample"] < strip.end]
    return {
        "fs": strip.fs, "units": strip.units, "axis": label, "first_sample": first,
        "end_sample": strip.end, "t0_s": first / strip.fs,
        "values": [None if math.isnan(v) else round(v, 4) for v in scaled.tolist()],
        "marks": [{**m, "t_s": m["sample"] / strip.fs,
                   "value": None if math.isnan(scaled[m["sample"] - first])
                   else round(float(scaled[m["sample"] - first]), 4)} for m in in_strip],
    }
