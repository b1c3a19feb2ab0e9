"""Tell a refused login from a missing service: one line naming the cause, at once.

A client library that cannot log in keeps retrying and finally reports what looks like an
absent service (kafka-python: "Unable to bootstrap" after its timeout; a Redis probe: no
PING). These checks open one connection with the configured credentials and say what the
server answered. Each returns None when nothing definite went wrong (the server logged us
in, or could not be reached at all: the callers' reachability checks say that).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from urllib.parse import urlsplit

from stream.clients.kafka import aiokafka_config
from stream.clients.redis import sync_redis
from stream.errors import ConfigError
from stream.redact import redact_urls
from stream.settings import Settings

log = logging.getLogger(__name__)
KAFKA_AUTH_HINT = ("check ECG_KAFKA_SASL_USERNAME, ECG_KAFKA_SASL_PASSWORD and "
                   "ECG_KAFKA_SASL_MECHANISM")
KAFKA_PROTOCOL_HINT = ("check ECG_KAFKA_SECURITY_PROTOCOL and ECG_KAFKA_SASL_MECHANISM "
                       "against the broker's listener")
REDIS_AUTH_HINT = "check ECG_REDIS_PASSWORD (or the password in ECG_REDIS_URL)"


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def _kafka_login(settings: Settings, host: str, port: int, timeout: float) -> str | None:
    from aiokafka.conn import create_conn  # local: aiokafka loads only when used (fast --help)
    from aiokafka.errors import (  # local: aiokafka loads only when used (fast --help)
        KafkaError,
        SaslAuthenticationFailed,
    )

    config = aiokafka_config(settings)
    config.pop("bootstrap_servers")
    where = f"{host}:{port}"
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(timeout * 1000), **config), timeout)
    except SaslAuthenticationFailed as exc:
        user = settings.kafka_sasl_username
        return (f"Kafka at {where} answers, but authentication failed for user {user!r} "
                f"({_detail(exc)}): {KAFKA_AUTH_HINT}")
    except ssl.SSLError as exc:
        return (f"Kafka at {where} answers, but the TLS handshake failed ({_detail(exc)}): "
                "check ECG_KAFKA_SSL_CAFILE, ECG_KAFKA_SSL_CERTFILE and ECG_KAFKA_SSL_KEYFILE")
    except KafkaError as exc:
        return (f"Kafka at {where} answers, but the broker refused the connection "
                f"({_detail(exc)}): {KAFKA_PROTOCOL_HINT}")
    except (OSError, TimeoutError) as exc:
        log.debug("kafka login check at %s inconclusive: %r", where, exc)
        return None
    conn.close()
    return None


def kafka_login_problem(settings: Settings, timeout: float = 5.0) -> str | None:
    """Why the first bootstrap server that answers refuses our login, or None.

    Only the SSL and SASL protocols are checked (a PLAINTEXT listener has no login).
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None

    async def check() -> str | None:
        for host, port in settings.kafka_hosts:
            problem = await _kafka_login(settings, host, port, timeout)
            if problem is not None:
                return problem
        return None

    return asyncio.run(check())


def redis_login_problem(settings: Settings, timeout: float = 2.0) -> str | None:
    """Why the configured Redis refuses our credentials, or None (logged in, or unreachable)."""
    import redis  # local: redis loads only when used (fast --help)


    client = sync_redis(settings, timeout)
    host, port = settings.redis_host_port
    no_password = settings.redis_password is None and not urlsplit(settings.redis_url).password
    try:
        client.ping()
    except (redis.AuthenticationError, redis.exceptions.AuthenticationWrongNumberOfArgsError,
            redis.exceptions.NoPermissionError) as exc:
        if no_password:  # NOAUTH (RESP3: "HELLO must be called with the client already ...")
            return f"Redis at {host}:{port} requires a password and none is set: {REDIS_AUTH_HINT}"
        return (f"Redis at {host}:{port} answers, but authentication failed "
                f"({redact_urls(_detail(exc))}): {REDIS_AUTH_HINT}")
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc):
            return f"Redis at {host}:{port} requires a password and none is set: {REDIS_AUTH_HINT}"
        log.debug("redis login check inconclusive: %r", exc)
    except (redis.RedisError, OSError) as exc:
        log.debug("redis login check inconclusive: %r", exc)
    finally:
        client.close()
    return None


def require_kafka_login(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the cause when the broker refuses our login."""
    problem = kafka_login_problem(settings)
    if problem is not None:
        raise ConfigError(problem)


def require_redis_login(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the cause when Redis refuses our credentials."""
    problem = redis_login_problem(settings)
    if problem is not None:
        raise ConfigError(problem)
