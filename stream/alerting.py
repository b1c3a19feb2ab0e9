"""Alert rule: at least m of a patient's last n beats anomalous, then a cool-down.

Pure logic (no kafka): :mod:`stream.alerts_cli` feeds it the records of ``ecg.anomalies``.

That topic only carries anomalous beats, so "the last n beats" are reckoned by beat
sequence number: with ``newest`` the highest ``seq`` seen for the patient, the window is
``(newest - n, newest]`` and the rule counts the anomalous beats whose ``seq`` lies in it.
Records with ``anomalous=False`` (when fed ``ecg.scores``) move the window but never count.
A record whose (patient, seq) is already in the window is a duplicate and is ignored; one at
or before ``newest - n`` can no longer be among the last n beats and is ignored as stale.

When the rule holds and the patient is not cooling down, an :class:`~stream.schemas.Alert`
is raised and the patient stays quiet for ``cooldown_s``; rule hits meanwhile are counted as
suppressed. An episode that persists raises one alert per cool-down. Time comes from the
record's ``published_ms`` (event time, deterministic on replays) unless a clock is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stream.schemas import Alert, ScoreRecord


@dataclass
class AlertCounters:
    """What the tracker did with the records it saw (all counts)."""

    events: int = 0
    alerts: int = 0
    suppressed: int = 0
    duplicates: int = 0
    stale: int = 0
    normal: int = 0


@dataclass
class _Window:
    scores: dict[int, float] = field(default_factory=dict)  # seq -> score, anomalies only
    newest: int | None = None
    quiet_until_ms: int = 0
    suppressed: int = 0


class AlertTracker:
    """Per-patient m-of-n alert rule with cool-down and duplicate suppression.

    Args:
        m: anomalous beats needed, ``1 <= m <= n``.
        n: window length in beats (by sequence number).
        cooldown_s: seconds a patient stays quiet after an alert (>= 0).
        clock: epoch-ms clock; ``None`` uses each record's ``published_ms``.
    """

    def __init__(
        self, m: int, n: int, cooldown_s: float, clock: Callable[[], int] | None = None
    ) -> None:
        if not 1 <= m <= n:
            msg = f"need 1 <= m <= n, got m={m}, n={n}"
            raise ValueError(msg)
        if cooldown_s < 0:
            msg = f"cool-down must be >= 0 s, got {cooldown_s}"
            raise ValueError(msg)
        self.m, self.n = m, n
        self.cooldown_ms = round(cooldown_s * 1000)
        self.counters = AlertCounters()
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def observe(self, record: ScoreRecord) -> Alert | None:
        """Take one score record; return the alert it raises, if any."""
        self.counters.events += 1
        window = self._windows.setdefault(record.patient, _Window())
        if not self._admit(window, record):
            return None
        if len(window.scores) < self.m:
            return None
        now = self._clock() if self._clock is not None else record.published_ms
        if now < window.quiet_until_ms:
            window.suppressed += 1
            self.counters.suppressed += 1
            return None
        window.quiet_until_ms = now + self.cooldown_ms
        self.counters.alerts += 1
        return Alert(
            patient=record.patient,
            anomalies=len(window.scores),
            window=self.n,
            first_seq=min(window.scores),
            last_seq=max(window.scores),
            raised_ms=now,
            max_score=max(window.scores.values()),
        )

    def suppressed(self, patient: str) -> int:
        """How many rule hits of ``patient`` the cool-down has suppressed so far."""
        window = self._windows.get(patient)
        return window.suppressed if window else 0

    def _admit(self, window: _Window, record: ScoreRecord) -> bool:
        """Slide the window to the record; True when a new anomaly entered it."""
        seq = record.seq
        if seq in window.scores:
            self.counters.duplicates += 1
            return False
        if window.newest is not None and seq <= window.newest - self.n:
            self.counters.stale += 1
            return False
        if window.newest is None or seq > window.newest:
            window.newest = seq
            floor = seq - self.n
            for old in [s for s in window.scores if s <= floor]:
                del window.scores[old]
        if not record.anomalous:
            self.counters.normal += 1
            return False
        window.scores[seq] = record.score
        return True


def format_alert(alert: Alert) -> str:
    """One human-readable line, e.g. ``2026-11-25T18:00:01Z ALERT patient p-7: 3 of ...``."""
    when = datetime.fromtimestamp(alert.raised_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{when} ALERT patient {alert.patient}: {alert.anomalies} of last {alert.window} beats "
        f"anomalous (seq {alert.first_seq}-{alert.last_seq}, max score {alert.max_score:.4g})"
    )
