"""Translate :class:`Settings` into keyword arguments for each Kafka client we use."""

from __future__ import annotations

import ssl
from typing import Any

from stream.errors import ConfigError
from stream.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """An SSL context for SSL/SASL_SSL, built from the configured CA and client cert files.

    Raises:
        ConfigError: a configured file is missing, unreadable or not PEM (the message names
            the setting and the file).
    """
    if "SSL" not in settings.kafka_security_protocol:
        return None
    files = {"ECG_KAFKA_SSL_CAFILE": settings.kafka_ssl_cafile,
             "ECG_KAFKA_SSL_CERTFILE": settings.kafka_ssl_certfile,
             "ECG_KAFKA_SSL_KEYFILE": settings.kafka_ssl_keyfile}
    for name, path in files.items():
        if path is not None and not path.is_file():
            msg = f"{name}={path}: no such file (a PEM file; unset it to use the system CAs)"
            raise ConfigError(msg)
    step = "ECG_KAFKA_SSL_CAFILE"
    try:
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(cafile=cafile)
        if settings.kafka_ssl_certfile:
            step = "ECG_KAFKA_SSL_CERTFILE / ECG_KAFKA_SSL_KEYFILE"
            keyfile = str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None
            context.load_cert_chain(str(settings.kafka_ssl_certfile), keyfile)
    except (ssl.SSLError, OSError) as exc:
        msg = f"{step}: could not load ({exc}); give PEM files the process can read"
        raise ConfigError(msg) from exc
    return context


def _sasl(settings: Settings) -> dict[str, Any]:
    if "SASL" not in settings.kafka_security_protocol:
        return {}
    password = settings.kafka_sasl_password
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism or "PLAIN",
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": password.get_secret_value() if password else None,
    }


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Connection keywords for kafka-python's KafkaProducer, KafkaConsumer and admin client."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_servers,
        "security_protocol": settings.kafka_security_protocol,
        **_sasl(settings),
    }
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    return config


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Connection keywords for aiokafka's AIOKafkaProducer and AIOKafkaConsumer.

    The same keywords as kafka-python's (the two clients name them alike).
    """
    return kafka_python_config(settings)


def faust_broker_url(settings: Settings) -> str:
    """The ``kafka://`` broker URL Faust expects, one entry per bootstrap server."""
    return ";".join(f"kafka://{server}" for server in settings.kafka_servers)


def faust_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials`` for SSL/SASL, or None for PLAINTEXT."""
    import faust  # local: faust loads only when used (fast --help)

    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    return None
