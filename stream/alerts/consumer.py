"""The alert consumer loop: poll the output topics, apply the alarm rules, hand alerts on.

It reads ``ecg.anomalies`` (the m-of-n rule, :mod:`stream.alerts.rule`) and, for the monitor
alarms (:mod:`stream.alerts.monitor`), ``ecg.scores`` (every beat: heart rate, morphology)
and ``ecg.events`` (pauses, lead off, signal lost, published by the workers).

Offsets are committed after each polled batch has been handled (every alert handed to
``on_alert`` and, when publishing, acknowledged by the broker), so a crash repeats input
rather than losing it. The rules' state (windows, runs, active conditions, cool-downs) is
rebuilt on start: each partition with a committed offset is first re-read from
``ECG_ALERT_RECOVER_S`` before it (by record timestamp), alerting nothing, so a restarted
consumer neither repeats an alarm still cooling down nor forgets a run under way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from stream.alerts.metrics import RunCounts
from stream.alerts.monitor import MonitorRules, MonitorTracker
from stream.alerts.rule import AlertTracker
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord, SignalEvent

log = logging.getLogger(__name__)
POLL_MS = 500
M = TypeVar("M", ScoreRecord, SignalEvent)


@dataclass(frozen=True)
class RunLimits:
    """When the consumer stops: after ``max_messages`` records or ``idle_timeout_s`` quiet."""

    max_messages: int | None = None
    idle_timeout_s: float | None = None


@dataclass(frozen=True)
class Publisher:
    """Alerts also sent to ``topic`` (JSON, key = patient), flushed before each commit."""

    producer: KafkaProducer
    topic: str

    def send(self, alert: Alert) -> None:
        """Queue one alert."""
        self.producer.send(self.topic, value=alert.model_dump_json(by_alias=True).encode(),
                           key=alert.patient.encode())


@dataclass
class Rules:
    """The alarm rules and the topics feeding them (``monitor`` None: the m-of-n rule only)."""

    tracker: AlertTracker
    monitor: MonitorTracker | None
    anomalies: str
    scores: str
    events: str

    @property
    def topics(self) -> list[str]:
        """The topics these rules read."""
        return [self.anomalies] + ([self.scores, self.events] if self.monitor else [])

    def observe(self, message: Any) -> list[Alert] | str:
        """The alerts one message raises, or one line saying why it is malformed."""
        if message.topic == self.anomalies:
            record = decode(message)
            if isinstance(record, str):
                return record
            alert = self.tracker.observe(record)
            return [alert] if alert is not None else []
        if self.monitor is None:
            return []
        if message.topic == self.events:
            event = decode_event(message)
            return event if isinstance(event, str) else self.monitor.observe_event(event)
        record = decode(message)
        return record if isinstance(record, str) else self.monitor.observe(record)


def make_rules(settings: Settings, monitor: bool = True) -> Rules:
    """The m-of-n rule and, with ``monitor``, the monitor alarms, from the settings."""
    tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s,
                           idle_s=settings.alert_idle_s)
    tracked = MonitorTracker(MonitorRules.from_settings(settings)) if monitor else None
    return Rules(tracker, tracked, settings.topic_anomalies, settings.topic_scores,
                 settings.topic_events)


class _Rewind(ConsumerRebalanceListener):
    """Rebalance listener that seeks each partition to its first offset, once per run.

    A later rebalance (another topic's metadata arriving, a member joining) hands back
    partitions this consumer already read from the beginning: they go on from their
    position, not from the start again (that re-read every record, counted twice).
    """

    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer
        self.rewound: set[Any] = set()

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do: offsets are committed after every batch."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        """Rewind the partitions this consumer got for the first time."""
        new = [tp for tp in assigned if tp not in self.rewound]
        if new:
            self.consumer.seek_to_beginning(*new)
            self.rewound.update(new)


class _Recover(ConsumerRebalanceListener):
    """Rebalance listener that marks newly assigned partitions for re-reading.

    The listener runs on the client's IO thread, where no blocking call may be made; the
    consume loop calls :meth:`rewind` after each poll: each marked partition with a committed
    offset is sought back by ``recover_ms`` (by record timestamp), and ``warm`` maps it to
    that committed offset: records before it are observed (the rules' state) without
    alerting.
    """

    def __init__(self, consumer: KafkaConsumer, recover_ms: int) -> None:
        self.consumer, self.recover_ms = consumer, recover_ms
        self.pending: set[Any] = set()
        self.warm: dict[tuple[str, int], int] = {}

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do: offsets are committed after every batch."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        """Mark the partitions this consumer just got."""
        if self.recover_ms > 0:
            self.pending |= set(assigned)

    def rewind(self) -> set[Any]:
        """Seek the marked partitions back; returns those sought.

        The records just polled from a partition sought are stale: they come again.
        """
        if not self.pending:
            return set()
        marked, self.pending = self.pending, set()
        since = int(time.time() * 1000) - self.recover_ms
        committed = {tp: self.consumer.committed(tp) for tp in marked}
        known = {tp: since for tp, offset in committed.items() if offset}
        starts = self.consumer.offsets_for_times(known) if known else {}
        sought = set()
        for tp, found in starts.items():
            offset = committed[tp]
            if found is not None and offset is not None and found.offset < offset:
                self.consumer.seek(tp, found.offset)
                self.warm[(tp.topic, tp.partition)] = offset
                sought.add(tp)
                log.info("alert state: re-reading %s[%d] from offset %d (committed %d)",
                         tp.topic, tp.partition, found.offset, offset)
        return sought


def open_consumer(settings: Settings, group: str, from_beginning: bool,
                  topics: list[str] | None = None) -> KafkaConsumer:
    """A consumer of ``topics`` (default: the anomalies topic) in ``group``, committing by hand.

    Unless ``from_beginning``, its ``recovery`` attribute is the :class:`_Recover` listener
    (which partitions are being re-read, up to which offset).
    """
    consumer = KafkaConsumer(
        **kafka_python_config(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    topics = topics or [settings.topic_anomalies]
    for topic in topics:  # the scores and events topics; the anomalies one is not created here
        if topic != settings.topic_anomalies:
            ensure_topic(settings, topic, partitions=settings.topic_partitions)
    if from_beginning:
        consumer.subscribe(topics, listener=_Rewind(consumer))
    else:
        recovery = _Recover(consumer, round(1000 * settings.alert_recover_s))
        consumer.subscribe(topics, listener=recovery)
        consumer.recovery = recovery
    return consumer


def open_publisher(settings: Settings) -> Publisher:
    """A :class:`Publisher` to the alerts topic (created when missing)."""
    ensure_topic(settings, settings.topic_alerts, partitions=settings.topic_partitions)
    return Publisher(KafkaProducer(**kafka_python_config(settings), acks="all"),
                     settings.topic_alerts)


def decode(message: Any) -> ScoreRecord | str:
    """The score record in ``message``, or one line saying why it is malformed."""
    return _decode(message, ScoreRecord)


def decode_event(message: Any) -> SignalEvent | str:
    """The signal event in ``message``, or one line saying why it is malformed."""
    return _decode(message, SignalEvent)


def _decode(message: Any, schema: type[M]) -> M | str:
    try:
        return schema.model_validate_json(message.value or b"")
    except (ValidationError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        return f"malformed message {message.topic}[{message.partition}]@{message.offset}: {reason}"


def _log_malformed(line: str) -> None:
    log.warning("%s", line)


def counts(rules: Rules, run: RunCounts) -> dict[str, int]:
    """The run's counts and the rules' counters, as one flat mapping."""
    out = {**asdict(run), **asdict(rules.tracker.counters)}
    if rules.monitor is not None:
        out.update({f"monitor_{k}": v for k, v in asdict(rules.monitor.counters).items()})
    return out


def _handle_batch(messages: list[Any], rules: Rules, on_alert: Callable[[Alert], None],
                  publisher: Publisher | None, on_malformed: Callable[[str], None],
                  warm: dict[tuple[str, int], int], run: RunCounts) -> None:
    """Decode and observe one polled batch (alerting nothing for records being re-read)."""
    for message in messages:
        raised = rules.observe(message)
        until = warm.get((message.topic, message.partition))
        if until is not None:
            if message.offset < until:
                run.recovered += 1  # handled before the restart: state only
                continue
            del warm[(message.topic, message.partition)]
        run.messages += 1
        if isinstance(raised, str):
            run.malformed += 1
            on_malformed(raised)
            continue
        for alert in raised:
            on_alert(alert)
            if publisher is not None:
                publisher.send(alert)


def consume(rules: Rules, consumer: KafkaConsumer, on_alert: Callable[[Alert], None],
            limits: RunLimits, run: RunCounts | None = None,
            publisher: Publisher | None = None,
            on_malformed: Callable[[str], None] = _log_malformed) -> dict[str, int]:
    """Poll and handle batches until a limit is reached; returns the run's counts.

    ``on_alert`` gets every alert raised; ``on_malformed`` one line per record that is not a
    score record or an event (default: logged as a warning). Records re-read to rebuild the
    rules' state count as ``recovered``, not towards ``max_messages``.
    """
    run = run if run is not None else RunCounts()
    recovery: _Recover | None = getattr(consumer, "recovery", None)
    warm = recovery.warm if recovery is not None else {}
    last_activity = time.monotonic()
    was_assigned = False
    while limits.max_messages is None or run.messages < limits.max_messages:
        budget = None if limits.max_messages is None else limits.max_messages - run.messages
        polled = consumer.poll(timeout_ms=POLL_MS, max_records=budget)
        if not was_assigned and consumer.assignment():
            was_assigned, last_activity = True, time.monotonic()  # group join is not idleness
        sought = recovery.rewind() if recovery is not None else set()
        batches = {tp: batch for tp, batch in polled.items() if batch and tp not in sought}
        if batches:
            _handle_batch([m for batch in batches.values() for m in batch], rules, on_alert,
                          publisher, on_malformed, warm, run)
            if publisher is not None:
                publisher.producer.flush(timeout=30)
            # What was handled, never below an offset committed before a restart.
            offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1)
                       for tp, batch in batches.items()
                       if batch[-1].offset + 1 >= warm.get((tp.topic, tp.partition), 0)}
            if offsets:
                consumer.commit(offsets)
            last_activity = time.monotonic()
        elif sought:
            last_activity = time.monotonic()
        elif limits.idle_timeout_s is not None and (
            time.monotonic() - last_activity >= limits.idle_timeout_s
        ):
            break
    return counts(rules, run)
