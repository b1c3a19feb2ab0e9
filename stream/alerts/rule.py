"""Alert rule: at least m of a patient's last n beats anomalous, then a cool-down.

Pure logic (no kafka): :mod:`stream.alerts.consumer` feeds it the records of ``ecg.anomalies``.
Each (patient, mode) has its own window; the rule is described in
``docs/thresholds-and-alerts.md`` (section "Alerts").

That topic only carries anomalous beats, so "the last n beats" are reckoned by position in
the patient's stream: the ``seq`` in beat mode, window ``(newest - n, newest]``; the
``onset_sample`` in continuous mode (absolute in the signal, the same for every owner),
window ``(newest - (n - 1/2) L, newest]`` with L the median length of the patient's last 8
beats. Records with ``anomalous=False`` (when fed ``ecg.scores``) move the window but never
count. A record of a beat seen already (:mod:`stream.wire.identity`: same seq and send time;
onset within a tolerance) is a duplicate; one older than the window is stale. A record older
than the window but sent after every record of its patient starts a new numbering (a producer
restart): the patient's window is reset and the restart counted and logged.

When the rule holds and the patient is not cooling down, an :class:`~stream.wire.schemas.Alert`
is raised and the patient stays quiet for ``cooldown_s``; rule hits meanwhile are counted as
suppressed. Time comes from the record's ``published_ms`` (event time, deterministic on
replays) unless a clock is given. Windows of patients without a record for ``idle_s`` (event
time, at least the cool-down) are dropped and counted as expired, so memory stays bounded.
"""

from __future__ import annotations

import logging
import statistics
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stream.wire.identity import beat_length, onset_tolerance
from stream.wire.schemas import BEAT_LENGTH, Alert, ScoreRecord

log = logging.getLogger(__name__)
DEFAULT_IDLE_S = 600.0
"""Seconds (event time) without a record after which a patient's window is dropped."""
LENGTH_HISTORY = 8
"""Continuous mode: beat lengths whose median is the window's beat length L."""


@dataclass
class AlertCounters:
    """What the tracker did with the records it saw (all counts)."""

    events: int = 0
    alerts: int = 0
    suppressed: int = 0
    duplicates: int = 0
    stale: int = 0
    normal: int = 0
    restarts: int = 0
    expired: int = 0


@dataclass(frozen=True)
class _Seen:
    key: int  # seq (beat mode) or onset_sample (continuous)
    sent_ms: int
    tolerance: int  # continuous: samples within which another onset is this beat


@dataclass
class _Window:
    continuous: bool
    recent: deque[_Seen]  # the last anomalies admitted, for duplicates beyond the window
    scores: dict[int, float] = field(default_factory=dict)  # key -> score, anomalies only
    lengths: deque[int] = field(default_factory=lambda: deque(maxlen=LENGTH_HISTORY))
    newest: int | None = None
    latest_sent: int = -1
    epoch_sent: int = -1  # send time of the first record of the current numbering
    last_ms: int = 0
    quiet_until_ms: int = 0
    suppressed: int = 0


class AlertTracker:
    """Per-patient m-of-n alert rule with cool-down, duplicate and restart handling.

    Args:
        m: anomalous beats needed, ``1 <= m <= n``.
        n: window length in beats.
        cooldown_s: seconds a patient stays quiet after an alert (>= 0).
        clock: epoch-ms clock; ``None`` uses each record's ``published_ms``.
        idle_s: a patient's window is dropped after this long without a record (> 0; at
            least ``cooldown_s`` is used, so expiry never ends a cool-down).
    """

    def __init__(self, m: int, n: int, cooldown_s: float,
                 clock: Callable[[], int] | None = None, idle_s: float = DEFAULT_IDLE_S) -> None:
        if not 1 <= m <= n:
            msg = f"need 1 <= m <= n, got m={m}, n={n}"
            raise ValueError(msg)
        if cooldown_s < 0:
            msg = f"cool-down must be >= 0 s, got {cooldown_s}"
            raise ValueError(msg)
        if idle_s <= 0:
            msg = f"idle expiry must be > 0 s, got {idle_s}"
            raise ValueError(msg)
        self.m, self.n = m, n
        self.cooldown_ms = round(cooldown_s * 1000)
        self.idle_ms = max(round(idle_s * 1000), self.cooldown_ms)
        self.counters = AlertCounters()
        self._clock = clock
        self._event_ms = 0  # newest event time seen: judges expiry
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()  # idlest first

    def __len__(self) -> int:
        """Windows held (one per patient and mode seen within the idle time)."""
        return len(self._windows)

    def observe(self, record: ScoreRecord) -> Alert | None:
        """Take one score record; return the alert it raises, if any."""
        self.counters.events += 1
        now = self._clock() if self._clock is not None else record.published_ms
        self._expire(max(self._event_ms, now))
        window = self._window(record, now)
        if not self._admit(window, record):
            return None
        if len(window.scores) < self.m:
            return None
        if now < window.quiet_until_ms:
            window.suppressed += 1
            self.counters.suppressed += 1
            return None
        window.quiet_until_ms = now + self.cooldown_ms
        self.counters.alerts += 1
        return Alert(patient=record.patient, anomalies=len(window.scores), window=self.n,
                     first_seq=min(window.scores), last_seq=max(window.scores),
                     raised_ms=now, max_score=max(window.scores.values()))

    def suppressed(self, patient: str) -> int:
        """How many rule hits of ``patient`` the cool-down has suppressed so far."""
        return sum(w.suppressed for (p, _), w in self._windows.items() if p == patient)

    def _window(self, record: ScoreRecord, now: int) -> _Window:
        key = (record.patient, record.mode)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(record.mode == "continuous",
                                                  deque(maxlen=4 * self.n + 16))
        self._windows.move_to_end(key)
        window.last_ms = max(window.last_ms, now)
        return window

    def _expire(self, now: int) -> None:
        """Drop the windows of patients without a record for ``idle_ms`` (event time)."""
        self._event_ms = now
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if now - window.last_ms < self.idle_ms:
                return
            del self._windows[key]
            self.counters.expired += 1
            log.debug("alert window of patient %s (%s) expired", *key)

    def _admit(self, window: _Window, record: ScoreRecord) -> bool:
        """Slide the window to the record; True when a new anomaly entered it."""
        key = _key(record)
        if record.sent_ms < window.epoch_sent:  # sent before the current numbering began
            self.counters.stale += 1
            return False
        if self._restarted(window, record, key):
            _reset(window, record.sent_ms)
            self.counters.restarts += 1
        elif self._duplicate(window, record, key):
            self.counters.duplicates += 1
            return False
        elif window.newest is not None and key <= self._floor(window):
            self.counters.stale += 1
            return False
        window.latest_sent = max(window.latest_sent, record.sent_ms)
        if window.continuous:
            window.lengths.append(beat_length(record))
        if window.newest is None or key > window.newest:
            window.newest = key
            floor = self._floor(window)
            for old in [k for k in window.scores if k <= floor]:
                del window.scores[old]
        if not record.anomalous:
            self.counters.normal += 1
            return False
        window.scores[key] = record.score
        window.recent.append(_Seen(key, record.sent_ms, onset_tolerance(beat_length(record))))
        return True

    def _floor(self, window: _Window) -> int:
        """The highest key no longer among the last n beats (the window is ``(floor, newest]``)."""
        newest = window.newest if window.newest is not None else 0
        if not window.continuous:
            return newest - self.n
        length = statistics.median(window.lengths) if window.lengths else BEAT_LENGTH
        return newest - round((self.n - 0.5) * length)

    def _restarted(self, window: _Window, record: ScoreRecord, key: int) -> bool:
        """Whether the record starts a new numbering: behind the window, yet sent later.

        Beat mode: any seq not above the newest (a producer sends a patient's beats in seq
        order; a re-delivered beat keeps its send time). Continuous mode: an onset older than
        the window, since a new owner's re-cut beats may be sent a little later than the
        first owner's last beat while their onsets lie inside the window.
        """
        if window.newest is None or record.sent_ms <= window.latest_sent:
            return False
        behind = key <= window.newest if not window.continuous else key <= self._floor(window)
        if behind:
            log.warning("patient %s: beat numbering restarted (%s %d after %d, sent %d ms "
                        "later): its alert window starts again", record.patient,
                        "onset" if window.continuous else "seq", key, window.newest,
                        record.sent_ms - window.latest_sent)
        return behind

    @staticmethod
    def _duplicate(window: _Window, record: ScoreRecord, key: int) -> bool:
        if window.continuous:
            return any(abs(key - seen.key) <= seen.tolerance for seen in window.recent)
        return any(key == seen.key and record.sent_ms == seen.sent_ms for seen in window.recent)


def _key(record: ScoreRecord) -> int:
    if record.mode == "continuous" and record.onset_sample is not None:
        return record.onset_sample
    return record.seq


def _reset(window: _Window, sent_ms: int) -> None:
    """Forget the old numbering's beats; the cool-down (about the patient) stays."""
    window.scores.clear()
    window.recent.clear()
    window.newest = None
    window.epoch_sent = sent_ms


def format_alert(alert: Alert) -> str:
    """One human-readable line, e.g. ``2026-11-25T18:00:01Z ALERT patient p-7: 3 of ...``."""
    when = datetime.fromtimestamp(alert.raised_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if alert.kind == "anomaly_run":
        score = f"{alert.max_score:.4g}" if alert.max_score is not None else "n/a"
        return (f"{when} ALERT patient {alert.patient}: {alert.anomalies} of last "
                f"{alert.window} beats anomalous (seq {alert.first_seq}-{alert.last_seq}, "
                f"max score {score})")
    label = "TECHNICAL" if alert.category == "technical" else "ALARM"
    what = alert.kind.replace("_", " ")
    if alert.window:
        rate = f" at {alert.heart_rate_bpm:.0f} bpm" if alert.heart_rate_bpm else ""
        what += f": {alert.window} beats{rate}"
    elif alert.detail:
        what += f": {alert.detail}"
    return (f"{when} {label} patient {alert.patient}: {what} "
            f"(samples {alert.first_seq}-{alert.last_seq})")
