"""The one settings object, read from ``ECG_*`` environment variables and CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Every setting of the project; built once at the entry point and passed down.

    Each field ``name`` is read from the environment variable ``ECG_NAME`` (for example
    ``ECG_KAFKA_BOOTSTRAP``); keyword arguments (the CLI options) take precedence.
    """

    model_config = SettingsConfigDict(env_prefix="ECG_", frozen=True, extra="forbid")

    # Kafka connection and security (passed to kafka-python, aiokafka and Faust alike).
    kafka_bootstrap: str = Field("localhost:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    # Redis (threshold statistics). A rediss:// URL enables TLS.
    redis_url: str = Field("redis://localhost:6379/0", description="Redis URL; rediss:// for TLS")
    redis_password: SecretStr | None = None
    redis_key_prefix: str = "ecg"

    # Topics.
    topic_beats: str = "ecg.beats"
    topic_signal: str = "ecg.signal"
    topic_scores: str = "ecg.scores"
    topic_anomalies: str = "ecg.anomalies"
    topic_deadletter: str = "ecg.deadletter"
    topic_alerts: str = "ecg.alerts"
    topic_partitions: int = Field(4, ge=1)
    topic_replication: int = Field(1, ge=1)

    # Data and model.
    data_dir: Path | None = Field(None, description="directory holding ECG5000_TRAIN/TEST")
    cache_dir: Path = Field(Path.home() / ".cache" / "ecg-stream", description="downloads, Maven libs")
    checkpoint: Path | None = Field(None, description="model checkpoint dir; default: shipped")

    # Local infrastructure (``ecg-stream infra``).
    state_dir: Path = Field(Path(".ecg"), description="Kafka data, Redis AOF, logs and pid files")
    kafka_version: str = "4.1.1"
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    infra_timeout_s: float = Field(90.0, gt=0)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bootstrap server {server!r} is not host:port")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"redis URL {value!r} must start with redis://, rediss:// or unix://")
        return value

    @property
    def kafka_hosts(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port) pairs."""
        pairs = []
        for server in self.kafka_bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            pairs.append((host.strip("[]"), int(port)))
        return pairs

    @property
    def redis_host_port(self) -> tuple[str, int]:
        """Host and port of the Redis URL (defaults localhost:6379)."""
        parts = urlsplit(self.redis_url)
        return parts.hostname or "localhost", parts.port or 6379

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked, safe to log or print."""
        data = self.model_dump(mode="json")
        parts = urlsplit(self.redis_url)
        if parts.password:
            data["redis_url"] = self.redis_url.replace(parts.password, "***", 1)
        return data
