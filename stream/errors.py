"""The project's error hierarchy; ``retriable`` says whether trying again may help."""

from __future__ import annotations


class EcgError(Exception):
    """Base of every error the project raises on purpose."""

    retriable: bool = False


class PrerequisiteError(EcgError):
    """Something the machine lacks (Java 17+, Maven, redis-server); the message says what to do."""


class InfraError(EcgError):
    """A service could not be started, reached or stopped."""

    retriable = True


class ConfigError(EcgError):
    """A setting is inconsistent with what was asked (e.g. a remote address to start locally)."""


class DataError(EcgError):
    """Input data is missing, corrupt or fails its checksum."""


class CheckpointError(EcgError):
    """A checkpoint is missing, corrupt, tampered with or does not match the code."""


# Next steps for the usual failures, in the one-line messages of the CLI and the probes.
KAFKA_HINT = ("start one with `ecg-stream infra up`, or point ECG_KAFKA_BOOTSTRAP "
              "(--kafka-bootstrap) at a running broker")
REDIS_HINT = ("start one with `ecg-stream infra up`, or point ECG_REDIS_URL (--redis-url) at a "
              "running Redis")
KAFKA_SECURITY_HINT = ("check ECG_KAFKA_SECURITY_PROTOCOL, ECG_KAFKA_SASL_* and ECG_KAFKA_SSL_* "
                       "against the broker's listener, and the broker's log")
