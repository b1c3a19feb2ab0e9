"""Health probes: a Kafka topic round trip and a Redis PING, with short timeouts."""

from __future__ import annotations

import errno
import logging
import socket
import time
import uuid

from stream.clients.credentials import require_kafka_login
from stream.clients.kafka import kafka_python_config
from stream.errors import KAFKA_HINT, ConfigError, InfraError
from stream.settings import Settings

log = logging.getLogger(__name__)
HEALTH_TOPIC = "__ecg_health"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_free_port(host: str, port: int, setting: str) -> None:
    """Fail with one line naming ``setting`` when ``host:port`` cannot be listened on.

    A server started on a taken port fails deep in its library with a long traceback; this
    check, just before, says which setting to change. (The port may still be taken between
    this check and the server's bind; the server's own error then stands.)

    Raises:
        ConfigError: the address is in use, not this machine's, or not allowed.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is in use (another worker or server?)" if exc.errno == errno.EADDRINUSE \
                else f"cannot be listened on ({exc.strerror})"
            msg = (f"{host}:{port} {why}: set {setting} to a free port, or ECG_BIND_HOST to an "
                   "address of this machine")
            raise ConfigError(msg) from exc


def require_kafka(settings: Settings, timeout: float = 2.0) -> None:
    """Fail fast, with the next step, when no bootstrap server accepts a TCP connection.

    Raises:
        InfraError: none of ``settings.kafka_hosts`` answers within ``timeout`` seconds.
        ConfigError: a broker answers but refuses the configured SSL/SASL login.
    """
    if any(port_open(host, port, timeout) for host, port in settings.kafka_hosts):
        require_kafka_login(settings)
        return
    msg = f"no Kafka broker answers at {settings.kafka_bootstrap}: {KAFKA_HINT}"
    raise InfraError(msg)


def kafka_round_trip(settings: Settings, timeout: float = 10.0) -> bool:
    """True when a client can create a topic and read back a message it produced."""
    from kafka import (  # local: kafka-python loads only when used (fast --help)
        KafkaConsumer,
        KafkaProducer,
        TopicPartition,
    )
    from kafka.errors import KafkaError  # local: kafka-python loads only when used (fast --help)

    config = kafka_python_config(settings)
    ms = int(timeout * 1000)
    try:
        ensure_topic(settings, HEALTH_TOPIC, partitions=1, timeout=timeout)
        producer = KafkaProducer(**config, request_timeout_ms=ms, max_block_ms=ms, acks="all")
        try:
            token = uuid.uuid4().hex.encode()
            meta = producer.send(HEALTH_TOPIC, token, partition=0).get(timeout=timeout)
        finally:
            producer.close(timeout=2)
        return _read_back(KafkaConsumer(**config, request_timeout_ms=max(ms, 31000)),
                          TopicPartition(HEALTH_TOPIC, 0), meta.offset, token, timeout)
    except (KafkaError, OSError, ValueError) as exc:
        log.debug("kafka probe failed: %r", exc)
        return False


def _read_back(consumer, partition, offset: int, token: bytes, timeout: float) -> bool:  # noqa: ANN001
    try:
        consumer.assign([partition])
        consumer.seek(partition, offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                if any(record.value == token for record in records):
                    return True
        return False
    finally:
        consumer.close()


def ensure_topic(settings: Settings, name: str, partitions: int, timeout: float = 10.0) -> bool:
    """Create ``name`` with ``partitions`` if missing; True when this call created it."""
    from kafka.admin import (  # local: kafka-python loads only when used (fast --help)
        KafkaAdminClient,
        NewTopic,
    )
    from kafka.errors import (
        TopicAlreadyExistsError,  # local: kafka-python loads only when used (fast --help)
    )

    ms = int(timeout * 1000)
    admin = KafkaAdminClient(**kafka_python_config(settings), request_timeout_ms=ms,
                             bootstrap_timeout_ms=ms)
    try:
        if name in admin.list_topics():
            return False
        topic = NewTopic(name, partitions, settings.topic_replication)
        try:
            admin.create_topics([topic], timeout_ms=int(timeout * 1000))
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()
