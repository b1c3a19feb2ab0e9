"""Both Kafka clients round-trip messages through the real local broker."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from stream.clients.kafka import aiokafka_config, kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings


def test_kafka_python_round_trip(infra: Settings, unique: Callable[[str], str]) -> None:
    topic = unique("kp")
    assert ensure_topic(infra, topic, partitions=2)
    assert not ensure_topic(infra, topic, partitions=2), "second create must be a no-op"
    producer = KafkaProducer(**kafka_python_config(infra), acks="all")
    sent = {f"patient-{i}".encode(): f"beat-{i}".encode() for i in range(20)}
    for key, value in sent.items():
        producer.send(topic, value=value, key=key)
    producer.flush(timeout=10)
    producer.close()
    consumer = KafkaConsumer(topic, **kafka_python_config(infra), group_id=unique("g"),
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 30
    for message in consumer:
        received[message.key] = message.value
        if len(received) == len(sent) or time.monotonic() > deadline:
            break
    consumer.close()
    assert received == sent


async def test_aiokafka_round_trip(infra: Settings, unique: Callable[[str], str]) -> None:
    topic = unique("aio")
    ensure_topic(infra, topic, partitions=1)
    async with AIOKafkaProducer(**aiokafka_config(infra), acks="all") as producer:
        for i in range(10):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"p1")
    consumer = AIOKafkaConsumer(topic, **aiokafka_config(infra), group_id=unique("g"),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    async with consumer:
        batches = await consumer.getmany(timeout_ms=10_000, max_records=10)
        values = [record.value.decode() for records in batches.values() for record in records]
        while len(values) < 10:
            more = await consumer.getone()
            values.append(more.value.decode())
    assert values == [f"v{i}" for i in range(10)]
