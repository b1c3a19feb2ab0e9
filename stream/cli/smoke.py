"""``ecg-stream smoke``: bring the infrastructure up, round-trip through Kafka and Redis, report."""

from __future__ import annotations

import time
import uuid
from typing import Any

import click

from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.runs.lifecycle import Lifecycle
from stream.settings import Settings


def kafka_round_trip(settings: Settings, messages: int) -> dict[str, Any]:
    """Produce ``messages`` keyed messages to a fresh topic and read them all back."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"ecg.smoke.{uuid.uuid4().hex[:8]}"
    ensure_topic(settings, topic, partitions=settings.topic_partitions)
    begin = time.perf_counter()
    producer = KafkaProducer(**kafka_python_config(settings), acks="all", linger_ms=5)
    for i in range(messages):
        producer.send(topic, key=f"patient-{i % 16}".encode(), value=str(i).encode())
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, **kafka_python_config(settings), auto_offset_reset="earliest",
                             group_id=f"{topic}.reader", consumer_timeout_ms=15_000)
    seen = {int(record.value) for record in _take(consumer, messages)}
    consumer.close()
    elapsed = time.perf_counter() - begin
    return {"topic": topic, "sent": messages, "received": len(seen),
            "round_trip_s": round(elapsed, 3)}


def _take(consumer: Any, n: int) -> list[Any]:
    records = []
    for record in consumer:
        records.append(record)
        if len(records) >= n:
            break
    return records


def redis_round_trip(settings: Settings) -> dict[str, Any]:
    """Write, read and delete one key under the configured prefix."""
    from stream.clients.redis import sync_redis

    client = sync_redis(settings)
    key = f"{settings.redis_key_prefix}:smoke:{uuid.uuid4().hex[:8]}"
    try:
        client.set(key, "ok", ex=60)
        value = client.get(key)
        client.delete(key)
    finally:
        client.close()
    return {"key": key, "ok": value == b"ok"}


@click.command("smoke")
@click.option("--messages", default=1000, show_default=True, help="Messages to round-trip.")
@click.option("--keep/--stop", default=False, help="Leave started services running.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def smoke(settings: Settings, messages: int, keep: bool, as_json: bool) -> None:
    """Infrastructure up, a Kafka and a Redis round trip, then stop what it started.

    \b
    Example:
      ecg-stream smoke --messages 5000 --json
    """
    from stream.cli.base import emit

    with Lifecycle() as life:  # what it started stops at the end, also on SIGINT/SIGTERM
        states = life.start_services(settings)
        if keep:
            life.pop_all()  # up: leave them running
        report = {"services": {s.name: s.as_dict() for s in states},
                  "kafka": kafka_round_trip(settings, messages),
                  "redis": redis_round_trip(settings)}
    ok = report["kafka"]["received"] == messages and report["redis"]["ok"]
    report["ok"] = ok
    emit(report, as_json)
    if not ok:
        raise click.exceptions.Exit(1)
