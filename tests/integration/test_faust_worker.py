"""A Faust (faust-streaming) agent runs as a real worker process against the local broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings

APP = Path(__file__).with_name("faust_echo_app.py")


def test_faust_agent_consumes_and_produces(infra: Settings, unique: Callable[[str], str],
                                           tmp_path: Path) -> None:
    source, sink = unique("echo-in"), unique("echo-out")
    ensure_topic(infra, source, partitions=2)
    ensure_topic(infra, sink, partitions=2)
    env = {**os.environ, "ECHO_IN": source, "ECHO_OUT": sink, "ECHO_APP_ID": unique("app"),
           "ECG_KAFKA_BOOTSTRAP": infra.kafka_bootstrap}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, str(APP), "worker", "--without-web", "-l", "info"],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        producer = KafkaProducer(**kafka_python_config(infra))
        sent = {f"p{i}".encode(): f"beat {i}".encode() for i in range(25)}
        for key, value in sent.items():
            producer.send(source, key=key, value=value)
        producer.flush(timeout=10)
        producer.close()
        received = _collect(infra, sink, len(sent), unique("reader"), timeout=90)
        assert received == {key: value.upper() for key, value in sent.items()}
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()[-2000:]


def _collect(settings: Settings, topic: str, n: int, group: str, timeout: float) -> dict:
    consumer = KafkaConsumer(topic, **kafka_python_config(settings), group_id=group,
                             auto_offset_reset="earliest")
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(received) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.update((r.key, r.value) for r in records)
    finally:
        consumer.close()
    return received
