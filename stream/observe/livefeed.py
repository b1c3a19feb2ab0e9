"""What the live dashboard shows: a bounded, in-memory view of one worker's recent beats.

Pure (no Faust, no I/O). The worker's runtime calls :meth:`LiveFeed.observe` once per
micro-batch; the dashboard's web views read :meth:`LiveFeed.overview` and
:meth:`LiveFeed.patient_view`. Memory is bounded: at most ``max_patients`` patients (the
least recently seen is dropped, with everything kept for it), each with its last
``beats_per_patient`` beats (140 float32 samples each), last ``scores_per_patient`` scores and
its own alert window: about 20 KB a patient, 20 MiB at the default 1,024. Alerts are the alert
consumer's rule (:class:`~stream.alerts.rule.AlertTracker`, the m, n and cool-down of the tracker
given) applied to this worker's own beats, one tracker per patient so that a dropped patient
leaves nothing behind.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from stream.alerts.rule import AlertTracker
from stream.wire.schemas import ScoreRecord

if TYPE_CHECKING:
    from stream.beats import PendingBeat


@dataclass(frozen=True)
class FeedBeat:
    """One scored beat as the dashboard keeps it; ``samples`` are the model's input."""

    seq: int
    onset_sample: int | None
    score: float
    threshold: float
    anomalous: bool
    published_ms: int
    samples: NDArray[np.float32]


@dataclass
class _Patient:
    beats: deque[FeedBeat]
    scores: deque[tuple[int, float, float, bool]]
    rule: AlertTracker
    seen: int = 0
    anomalies: int = 0
    alerts: int = 0
    last_ms: int = 0


@dataclass
class _Totals:
    beats: int = 0
    anomalies: int = 0
    alerts: int = 0
    degraded: bool = False
    lag: int | None = None


@dataclass
class LiveFeed:
    """Recent beats, scores, anomalies, alerts, throughput and lag of one worker."""

    tracker: AlertTracker
    beats_per_patient: int = 6
    scores_per_patient: int = 120
    max_patients: int = 1024
    recent: int = 25
    history_s: int = 120
    totals: _Totals = field(default_factory=_Totals)

    def __post_init__(self) -> None:
        self._patients: OrderedDict[str, _Patient] = OrderedDict()
        self._anomalies: deque[dict[str, Any]] = deque(maxlen=self.recent)
        self._alerts: deque[dict[str, Any]] = deque(maxlen=self.recent)
        self._rate: deque[list[int]] = deque(maxlen=self.history_s)  # [second, beats, anomalies]
        self._lag: deque[tuple[int, int]] = deque(maxlen=self.history_s)  # (second, records)

    def observe(self, beats: Sequence[PendingBeat], records: Sequence[ScoreRecord]) -> None:
        """Take one micro-batch: the beats given to the model and their score records."""
        for beat, record in zip(beats, records, strict=True):
            self._observe_one(beat.samples, record)
        if records:
            self.totals.degraded = records[-1].degraded
            self._count(records[-1].published_ms // 1000, len(records),
                        sum(record.anomalous for record in records))

    def _observe_one(self, samples: NDArray[np.float32], record: ScoreRecord) -> None:
        patient = self._patient(record.patient)
        patient.beats.append(FeedBeat(record.seq, record.onset_sample, record.score,
                                      record.threshold, record.anomalous, record.published_ms,
                                      samples))
        patient.scores.append((record.seq, record.score, record.threshold, record.anomalous))
        patient.seen += 1
        patient.last_ms = record.published_ms
        self.totals.beats += 1
        if record.anomalous:
            patient.anomalies += 1
            self.totals.anomalies += 1
            self._anomalies.appendleft({"patient": record.patient, "seq": record.seq,
                                        "score": record.score, "threshold": record.threshold,
                                        "published_ms": record.published_ms})
        alert = patient.rule.observe(record)
        if alert is not None:
            patient.alerts += 1
            self.totals.alerts += 1
            self._alerts.appendleft(alert.model_dump(by_alias=True))

    def _patient(self, name: str) -> _Patient:
        patient = self._patients.get(name)
        if patient is None:
            if len(self._patients) >= self.max_patients:
                self._patients.popitem(last=False)
            rule = AlertTracker(self.tracker.m, self.tracker.n, self.tracker.cooldown_ms / 1000)
            patient = _Patient(deque(maxlen=self.beats_per_patient),
                               deque(maxlen=self.scores_per_patient), rule)
            self._patients[name] = patient
        else:
            self._patients.move_to_end(name)
        return patient

    def _count(self, second: int, beats: int, anomalies: int) -> None:
        if self._rate and self._rate[-1][0] == second:
            self._rate[-1][1] += beats
            self._rate[-1][2] += anomalies
        else:
            self._rate.append([second, beats, anomalies])

    def set_lag(self, lags: Mapping[tuple[str, int], int], now_s: int) -> None:
        """Record the consumer lag (records not yet read) summed over assigned partitions."""
        self.totals.lag = sum(max(lag, 0) for lag in lags.values())
        self._lag.append((now_s, self.totals.lag))

    def throughput(self, now_s: int) -> list[tuple[int, int, int]]:
        """(second, beats, anomalies) for each of the last ``history_s`` whole seconds."""
        counts = {second: (beats, anomalies) for second, beats, anomalies in self._rate}
        first = now_s - self.history_s
        return [(s, *counts.get(s, (0, 0))) for s in range(first, now_s)]

    def overview(self, now_s: int) -> dict[str, Any]:
        """Totals, throughput and lag series, patients, recent anomalies and alerts (JSON)."""
        series = self.throughput(now_s)
        last = [beats for _, beats, _ in series[-5:]]
        patients = [{"patient": name, "beats": p.seen, "anomalies": p.anomalies,
                     "alerts": p.alerts, "last_ms": p.last_ms}
                    for name, p in reversed(self._patients.items())]
        return {
            "beats_scored": self.totals.beats, "anomalies": self.totals.anomalies,
            "alerts": self.totals.alerts, "degraded": self.totals.degraded,
            "lag": self.totals.lag, "beats_per_s": sum(last) / max(len(last), 1),
            "throughput": [[s, b, a] for s, b, a in series],
            "lag_series": [list(item) for item in self._lag],
            "patients": patients, "recent_anomalies": list(self._anomalies),
            "recent_alerts": list(self._alerts),
        }

    def patient_view(self, name: str) -> dict[str, Any] | None:
        """One patient's recent beats (samples as lists) and score history, or None."""
        patient = self._patients.get(name)
        if patient is None:
            return None
        return {
            "patient": name, "beats_seen": patient.seen, "anomalies": patient.anomalies,
            "alerts": patient.alerts,
            "beats": [{"seq": b.seq, "onset_sample": b.onset_sample, "score": b.score,
                       "threshold": b.threshold, "anomalous": b.anomalous,
                       "published_ms": b.published_ms} for b in patient.beats],
            "scores": [list(item) for item in patient.scores],
        }

    def patient_samples(self, name: str) -> tuple[tuple[int, ...], NDArray[np.float32]] | None:
        """The sequence numbers and ``(beats, 140)`` model inputs of a patient's recent beats."""
        patient = self._patients.get(name)
        if patient is None or not patient.beats:
            return None
        seqs = tuple(b.seq for b in patient.beats)
        return seqs, np.stack([b.samples for b in patient.beats])
