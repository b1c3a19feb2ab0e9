"""One-line messages, with the next step, for the usual failures of client libraries."""

from __future__ import annotations

KAFKA_HINT = ("start one with `ecg-stream infra up`, or point ECG_KAFKA_BOOTSTRAP "
              "(--kafka-bootstrap) at a running broker")
REDIS_HINT = ("start one with `ecg-stream infra up`, or point ECG_REDIS_URL (--redis-url) at a "
              "running Redis")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def explain(exc: BaseException) -> str | None:
    """The message for a Kafka or Redis connection failure, or None for anything else."""
    import kafka.errors
    import redis.exceptions

    # kafka-python 3 raises KafkaTimeoutError("Unable to bootstrap from [...]") for no broker.
    kafka_down = (kafka.errors.KafkaConnectionError, kafka.errors.MetadataEmptyBrokerList)
    if isinstance(exc, kafka_down) or (
            isinstance(exc, kafka.errors.KafkaTimeoutError) and "bootstrap" in str(exc)):
        return f"no Kafka broker answers ({_first_line(exc)}): {KAFKA_HINT}"
    if isinstance(exc, kafka.errors.KafkaError):
        return f"Kafka error: {_first_line(exc)}"
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return f"Redis refused the credentials ({_first_line(exc)}): check ECG_REDIS_PASSWORD"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"Redis is unreachable ({_first_line(exc)}): {REDIS_HINT}"
    return None
