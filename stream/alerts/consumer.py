"""The alert consumer loop: poll the anomalies topic, apply the m-of-n rule, hand alerts on.

Offsets are committed after each polled batch has been handled (every alert handed to
``on_alert`` and, when publishing, acknowledged by the broker), so a crash repeats input
rather than losing it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from pydantic import ValidationError

from stream.alerts.metrics import RunCounts
from stream.alerts.rule import AlertTracker
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord

log = logging.getLogger(__name__)
POLL_MS = 500


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


class _Rewind(ConsumerRebalanceListener):
    """Rebalance listener that seeks newly assigned partitions to their first offset."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do: offsets are committed after every batch."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        """Rewind the partitions this consumer just got."""
        if assigned:
            self.consumer.seek_to_beginning(*assigned)


def open_consumer(settings: Settings, group: str, from_beginning: bool) -> KafkaConsumer:
    """A consumer of the anomalies topic in ``group``, committing by hand."""
    consumer = KafkaConsumer(
        **kafka_python_config(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    if from_beginning:
        consumer.subscribe([settings.topic_anomalies], listener=_Rewind(consumer))
    else:
        consumer.subscribe([settings.topic_anomalies])
    return consumer


def open_publisher(settings: Settings) -> Publisher:
    """A :class:`Publisher` to the alerts topic (created when missing)."""
    ensure_topic(settings, settings.topic_alerts, partitions=settings.topic_partitions)
    return Publisher(KafkaProducer(**kafka_python_config(settings), acks="all"),
                     settings.topic_alerts)


def decode(message: Any) -> ScoreRecord | str:
    """The record in ``message``, or one line saying why it is malformed."""
    try:
        return ScoreRecord.model_validate_json(message.value or b"")
    except (ValidationError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        return f"malformed message {message.topic}[{message.partition}]@{message.offset}: {reason}"


def _log_malformed(line: str) -> None:
    log.warning("%s", line)


def counts(tracker: AlertTracker, run: RunCounts) -> dict[str, int]:
    """The run's counts and the tracker's counters, as one flat mapping."""
    return {**asdict(run), **asdict(tracker.counters)}


def _handle_batch(messages: list[Any], tracker: AlertTracker, on_alert: Callable[[Alert], None],
                  publisher: Publisher | None, on_malformed: Callable[[str], None]) -> int:
    """Decode and track one polled batch; returns how many were malformed."""
    malformed = 0
    for message in messages:
        record = decode(message)
        if isinstance(record, str):
            malformed += 1
            on_malformed(record)
            continue
        alert = tracker.observe(record)
        if alert is not None:
            on_alert(alert)
            if publisher is not None:
                publisher.send(alert)
    return malformed


def consume(tracker: AlertTracker, consumer: KafkaConsumer, on_alert: Callable[[Alert], None],
            limits: RunLimits, run: RunCounts | None = None,
            publisher: Publisher | None = None,
            on_malformed: Callable[[str], None] = _log_malformed) -> dict[str, int]:
    """Poll and handle batches until a limit is reached; returns the run's counts.

    ``on_alert`` gets every alert raised; ``on_malformed`` one line per record that is not a
    score record (default: logged as a warning).
    """
    run = run if run is not None else RunCounts()
    last_activity = time.monotonic()
    was_assigned = False
    while limits.max_messages is None or run.messages < limits.max_messages:
        budget = None if limits.max_messages is None else limits.max_messages - run.messages
        polled = consumer.poll(timeout_ms=POLL_MS, max_records=budget)
        if not was_assigned and consumer.assignment():
            was_assigned, last_activity = True, time.monotonic()  # group join is not idleness
        messages = [m for batch in polled.values() for m in batch]
        if messages:
            run.messages += len(messages)
            run.malformed += _handle_batch(messages, tracker, on_alert, publisher,
                                           on_malformed)
            if publisher is not None:
                publisher.producer.flush(timeout=30)
            consumer.commit()
            last_activity = time.monotonic()
        elif limits.idle_timeout_s is not None and (
            time.monotonic() - last_activity >= limits.idle_timeout_s
        ):
            break
    return counts(tracker, run)
