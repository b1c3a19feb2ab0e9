"""``ecg-stream alerts``: consume ``ecg.anomalies``, print alerts, optionally publish them.

Offsets are committed after each polled batch has been handled (alerts printed and, with
``--publish``, acknowledged by the broker), so a crash repeats input rather than losing it.
The m-of-n windows live in memory: a restart starts them empty; a patient's window is dropped
after ``ECG_ALERT_IDLE_S`` without a record of it (event time), so memory stays bounded.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import click
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from pydantic import ValidationError

from stream.alerts.metrics import RunCounts, serve_alert_metrics
from stream.alerts.rule import AlertTracker, format_alert
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic, require_kafka
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord

POLL_MS = 500


@dataclass(frozen=True)
class Output:
    """Where alerts go: stdout (JSON lines or human lines) and optionally a topic."""

    as_json: bool
    producer: KafkaProducer | None
    topic: str


@dataclass(frozen=True)
class RunLimits:
    """When the consumer stops: after ``max_messages`` records or ``idle_timeout_s`` quiet."""

    max_messages: int | None = None
    idle_timeout_s: float | None = None


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


def _open_consumer(settings: Settings, group: str, from_beginning: bool) -> KafkaConsumer:
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


def _open_producer(settings: Settings) -> KafkaProducer:
    ensure_topic(settings, settings.topic_alerts, partitions=settings.topic_partitions)
    return KafkaProducer(**kafka_python_config(settings), acks="all")


def _decode(message: Any) -> ScoreRecord | None:
    """The record in ``message``, or None (reported on stderr) when it is malformed."""
    try:
        return ScoreRecord.model_validate_json(message.value or b"")
    except (ValidationError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        click.echo(f"malformed message {message.topic}[{message.partition}]@{message.offset}: "
                   f"{reason}", err=True)
        return None


def _emit(alert: Alert, out: Output) -> None:
    payload = alert.model_dump_json(by_alias=True)
    click.echo(payload if out.as_json else format_alert(alert))
    if out.producer is not None:
        out.producer.send(out.topic, value=payload.encode(), key=alert.patient.encode())


def _handle_batch(messages: list[Any], tracker: AlertTracker, out: Output) -> int:
    """Decode and track one polled batch; returns how many were malformed."""
    malformed = 0
    for message in messages:
        record = _decode(message)
        if record is None:
            malformed += 1
            continue
        alert = tracker.observe(record)
        if alert is not None:
            _emit(alert, out)
    return malformed


def consume(tracker: AlertTracker, consumer: KafkaConsumer, out: Output,
            limits: RunLimits, run: RunCounts | None = None) -> dict[str, int]:
    """Poll and handle batches until a limit is reached; returns the run's counts."""
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
            run.malformed += _handle_batch(messages, tracker, out)
            if out.producer is not None:
                out.producer.flush(timeout=30)
            consumer.commit()
            last_activity = time.monotonic()
        elif limits.idle_timeout_s is not None and (
            time.monotonic() - last_activity >= limits.idle_timeout_s
        ):
            break
    return {**asdict(run), **asdict(tracker.counters)}


@click.command("alerts")
@click.option("--json", "as_json", is_flag=True, help="Print alerts as JSON lines.")
@click.option("--publish/--no-publish", default=False, show_default=True,
              help="Also send each alert (JSON, key = patient) to the alerts topic.")
@click.option("--from-beginning", is_flag=True,
              help="Read the anomalies topic from its first offset, not from the group's.")
@click.option("--group", default="ecg-alerts", show_default=True, help="Consumer group id.")
@click.option("--max-messages", type=click.IntRange(min=1), default=None,
              help="Stop after this many messages.")
@click.option("--idle-timeout", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds without a message.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics (ecg_alerts_total, ...) on this port "
                   "(address: ECG_BIND_HOST).")
@click.pass_obj
def alerts(settings: Settings, as_json: bool, publish: bool, from_beginning: bool, group: str,
           max_messages: int | None, idle_timeout: float | None,
           metrics_port: int | None) -> None:
    """Raise an alert when at least m of a patient's last n beats are anomalous.

    Consumes the anomalies topic (ECG_TOPIC_ANOMALIES); m, n and the cool-down come from
    ECG_ALERT_M, ECG_ALERT_N and ECG_ALERT_COOLDOWN_S. Repeats during the cool-down are
    suppressed and duplicated events ignored; a producer restarting its numbering resets the
    patient's window (logged, counted as restarts); windows of patients without a record for
    ECG_ALERT_IDLE_S expire. A summary (with the stale, duplicate, restart and expiry counts)
    goes to stderr at the end.

    \b
    Examples:
      ecg-stream alerts                          # human-readable lines, runs until Ctrl-C
      ecg-stream alerts --json --publish         # JSON lines, also sent to ecg.alerts
      ecg-stream alerts --from-beginning --idle-timeout 10 --metrics-port 9101
    """
    try:
        tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s,
                               idle_s=settings.alert_idle_s)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    require_kafka(settings)
    run = RunCounts()
    server = (serve_alert_metrics(tracker.counters, run, metrics_port, settings.bind_host)
              if metrics_port else None)
    producer = _open_producer(settings) if publish else None
    consumer = _open_consumer(settings, group, from_beginning)
    limits = RunLimits(max_messages, idle_timeout)
    try:
        out = Output(as_json, producer, settings.topic_alerts)
        counts = consume(tracker, consumer, out, limits, run)
    except KeyboardInterrupt:
        counts = {"interrupted": 1, **asdict(run), **asdict(tracker.counters)}
    finally:
        consumer.close()
        if producer is not None:
            producer.close(timeout=10)
        if server is not None:
            server.shutdown()
    click.echo("alerts summary: " + json.dumps(counts, sort_keys=True), err=True)
