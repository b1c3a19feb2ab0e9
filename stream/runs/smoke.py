"""The smoke check: services up, a Kafka and a Redis round trip, what was started stopped."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.clients.redis import sync_redis
from stream.runs.lifecycle import Lifecycle
from stream.settings import Settings


def kafka_round_trip(settings: Settings, messages: int) -> dict[str, Any]:
    """Produce ``messages`` keyed messages to a fresh topic and read them all back."""
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
    client = sync_redis(settings)
    key = f"{settings.redis_key_prefix}:smoke:{uuid.uuid4().hex[:8]}"
    try:
        client.set(key, "ok", ex=60)
        value = client.get(key)
        client.delete(key)
    finally:
        client.close()
    return {"key": key, "ok": value == b"ok"}


def run_smoke(settings: Settings, messages: int, keep: bool = False) -> dict[str, Any]:
    """Services up, both round trips; the report, with ``ok`` when everything came back.

    What it started stops at the end (also on SIGINT/SIGTERM) unless ``keep``.
    """
    with Lifecycle() as life:
        states = life.start_services(settings)
        if keep:
            life.pop_all()  # up: leave them running
        report = {"services": {s.name: s.as_dict() for s in states},
                  "kafka": kafka_round_trip(settings, messages),
                  "redis": redis_round_trip(settings)}
    report["ok"] = report["kafka"]["received"] == messages and report["redis"]["ok"]
    return report
