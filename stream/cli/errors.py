"""One-line messages, with the next step, for the usual failures of client libraries."""

from __future__ import annotations

import re

import kafka.errors

from stream.clients.probes import port_open
from stream.errors import KAFKA_HINT, KAFKA_SECURITY_HINT, REDIS_HINT
from stream.redact import redact_urls

# The addresses in "Unable to bootstrap from ['h:9092']" (kafka-python) and
# "... from [('h', 9092, <AddressFamily.AF_INET: 2>)]" (aiokafka).
_ADDRESSES = re.compile(r"'([^'\s]+):(\d+)'|\('([^'\s]+)', (\d+)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_urls(text[0][:300]) if text else type(exc).__name__


def _answering(exc: BaseException) -> str | None:
    """The first address named in ``exc`` whose TCP port accepts a connection, if any."""
    for match in _ADDRESSES.finditer(str(exc)):
        host = match.group(1) or match.group(3)
        port = int(match.group(2) or match.group(4))
        if port_open(host.strip("[]"), port, 1.0):
            return f"{host}:{port}"
    return None


def _kafka_unavailable(exc: BaseException) -> str:
    where = _answering(exc)
    if where is None:
        return f"no Kafka broker answers ({_first_line(exc)}): {KAFKA_HINT}"
    return (f"the Kafka port {where} accepts connections, but the client could not bootstrap "
            f"({_first_line(exc)}): {KAFKA_SECURITY_HINT}")


def explain(exc: BaseException) -> str | None:
    """The message for a Kafka or Redis connection failure, or None for anything else."""
    import redis.exceptions  # local: keeps --help fast

    # kafka-python 3 raises KafkaTimeoutError("Unable to bootstrap from [...]") for no broker,
    # and also when a broker answers but refuses the login (it retries until the timeout).
    kafka_down = (kafka.errors.KafkaConnectionError, kafka.errors.MetadataEmptyBrokerList)
    if isinstance(exc, kafka_down) or (
            isinstance(exc, kafka.errors.KafkaTimeoutError) and "bootstrap" in str(exc)):
        return _kafka_unavailable(exc)
    if isinstance(exc, kafka.errors.SaslAuthenticationFailedError):
        return f"Kafka authentication failed ({_first_line(exc)}): check ECG_KAFKA_SASL_*"
    if isinstance(exc, kafka.errors.KafkaError):
        return f"Kafka error: {_first_line(exc)}"
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return (f"Redis authentication failed ({_first_line(exc)}): check ECG_REDIS_PASSWORD "
                "(or the password in ECG_REDIS_URL)")
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"Redis is unreachable ({_first_line(exc)}): {REDIS_HINT}"
    return None
