"""The one settings object, read from ``ECG_*`` environment variables and CLI options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.runtimes import RuntimeName
from stream.redact import redact_urls

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
MIN_TOKEN_LENGTH = 16


def split_servers(bootstrap: str) -> list[str]:
    """``host:port[,host:port]`` as a list of stripped ``host:port`` strings (the one parse)."""
    return [server.strip() for server in bootstrap.split(",")]


class Settings(BaseSettings):
    """Every setting of the project; built once at the entry point and passed down.

    Each field ``name`` is read from the environment variable ``ECG_NAME`` (for example
    ``ECG_KAFKA_BOOTSTRAP``); keyword arguments (the CLI options) take precedence.
    """

    # hide_input_in_errors: a ValidationError's text never echoes a value (a URL's password).
    model_config = SettingsConfigDict(env_prefix="ECG_", frozen=True, extra="forbid",
                                      hide_input_in_errors=True)

    # Kafka connection and security (passed to kafka-python, aiokafka and Faust alike).
    kafka_bootstrap: str = Field("localhost:9092", description="host:port[,host:port]")
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)")
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret)")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="client private key (mutual TLS)")

    # Redis (threshold statistics). A rediss:// URL enables TLS.
    redis_url: str = Field("redis://localhost:6379/0", description="Redis URL; rediss:// for TLS")
    redis_password: SecretStr | None = Field(None, description="Redis AUTH password (secret)")
    redis_key_prefix: str = Field("ecg", description="prefix of every Redis key")

    # Topics.
    topic_beats: str = Field("ecg.beats", description="input: one beat per message")
    topic_signal: str = Field("ecg.signal", description="input: continuous-signal frames")
    topic_scores: str = Field("ecg.scores", description="output: every beat scored")
    topic_anomalies: str = Field("ecg.anomalies", description="output: beats judged anomalous")
    topic_deadletter: str = Field("ecg.deadletter", description="output: bad input + reason")
    topic_alerts: str = Field("ecg.alerts", description="output of `alerts --publish`")
    topic_stats_journal: str = Field(
        "ecg.stats-journal", description="statistics updates made while Redis was away")
    topic_events: str = Field(
        "ecg.events", description="output: signal events (pause, lead off, signal lost)")
    producer_compression: Literal["none", "gzip", "lz4", "zstd"] = Field(
        "none", description="replay producer compression (lz4, zstd: pip install lz4 / zstandard)")
    topic_partitions: int = Field(4, ge=1, description="partitions of topics the project creates")
    topic_replication: int = Field(1, ge=1, description="replication of topics it creates")

    # Worker: consumer group, micro-batching, input limits, continuous-mode buffers.
    worker_group: str = Field("ecg-stream-worker", description="Faust app id = consumer group")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once", description="Faust processing guarantee (see docs/pipeline.md)")
    worker_session_timeout_s: float = Field(
        10.0, ge=6, le=300, description="a crashed worker leaves the group after this")
    worker_web_port: int | None = Field(
        None, description="worker web server port (/health, /metrics, /dashboard/); unset: off")
    board_port: int = Field(6070, ge=1, le=65535, description="port of the ward board "
                            "(`ecg-stream board`: /board/, /metrics, /health)")
    # One bind address for every server the project runs (see docs/operations.md, Security).
    bind_host: str = Field(
        "127.0.0.1", description="address the worker web server, the ward board and the alerts "
                                 "metrics server listen on; 0.0.0.0: every interface (containers)")
    web_token: SecretStr | None = Field(
        None, description="access token of /dashboard/* and /board/* (Authorization: Bearer, "
                          "or ?token= once in the browser), 16+ characters (secret); unset: "
                          "no token")
    batch_size: int = Field(128, ge=1, description="most beats in one model call")
    batch_within_ms: int = Field(25, ge=1, description="longest a beat waits for its batch")
    torch_threads: int = Field(1, ge=1, description="intra-op threads of the scorer")
    model_runtime: RuntimeName | None = Field(
        None, description="scorer runtime; unset: the one the checkpoint recommends")
    max_payload_bytes: int = Field(65_536, ge=256, description="larger messages are dead-lettered")
    max_buffer_samples: int = Field(8_192, ge=512, description="per-patient continuous buffer cap")
    reorder_window: int = Field(8, ge=0, description="frames held back waiting for a missing one")
    min_sampling_rate: float = Field(
        100.0, ge=100, le=1000, description="frames claiming less are refused (supported: 100+ Hz)")
    max_sampling_rate: float = Field(
        1000.0, ge=100, le=1000,
        description="frames claiming more are refused (supported: up to 1000 Hz)")
    segmenter: Literal["qrs", "templates"] = Field(
        "qrs", description="continuous mode: qrs (real ECG: QRS detector, any lead, 100-1000 Hz) "
                           "or templates (stitched ECG5000 replays: the TRAIN beat shapes)")
    segmenter_rates: int = Field(
        3, ge=1, le=16,
        description="templates segmenter: sampling rates whose beat shapes are kept (LRU, "
                    "at most 82 MiB each)")
    segmenter_max_bytes: int = Field(
        64 * 2**20, ge=2**20,
        description="per-patient segmenter state per worker, bytes; least recently fed evicted")
    segmenter_idle_expiry_s: float = Field(
        600.0, gt=0, description="a patient's segmenter is dropped after this long without frames")
    segment_idle_flush_ms: int = Field(2_000, ge=100,
                                       description="close a patient's last beat after this idle")
    detect_block_s: float = Field(
        0.5, ge=0, le=2.0, description="qrs segmenter: frames gathered into blocks of this much "
        "signal for the detector (half the calls at 0.25 s frames, up to this much later); "
        "0: every frame")

    # Threshold policy (see docs): static from the checkpoint, adapted per patient after warm-up.
    threshold_mode: Literal["static", "adaptive"] = Field(
        "adaptive", description="static: checkpoint threshold only; adaptive: per patient")
    warmup_beats: int = Field(32, ge=0, description="beats per patient before its own stats count")
    threshold_k: float = Field(4.0, gt=0, description="patient threshold = mean + k * std")
    stats_update_on_anomaly: bool = Field(
        False, description="whether beats judged anomalous update the statistics")
    ewma_alpha: float = Field(0.05, gt=0, le=1, description="weight of a new score in the EWMA")
    stats_ttl_s: float = Field(
        7 * 86_400.0, ge=0,
        description="a patient's Redis statistics expire this long after its last beat; 0: never")
    threshold_max_factor: float = Field(
        1.25, ge=1, description="ceiling of a patient threshold, x the static one")
    learning_s: float = Field(
        300.0, ge=0, description="continuous mode: a patient the model does not know learns "
        "its normal from this many seconds of its signal; 0: the model's calibrated threshold")

    # Alert consumer: fire when >= m of the last n beats are anomalous; then stay quiet.
    alert_m: int = Field(3, ge=1, description="anomalous beats needed in the window")
    alert_n: int = Field(5, ge=1, description="window length, beats")
    alert_cooldown_s: float = Field(30.0, ge=0, description="quiet time after an alert")
    alert_idle_s: float = Field(
        600.0, gt=0, description="a patient's alert window is dropped after this long without "
        "a record (event time; at least the cool-down)")
    alert_recover_s: float = Field(
        120.0, ge=0, description="on start, the alert consumer re-reads this much of its input "
        "before its committed offsets (alerting nothing) to restore windows and cool-downs")

    # Monitor alarms (PhysioNet/CinC 2015 definitions) and signal events (continuous mode).
    alarm_asystole_s: float = Field(
        4.0, gt=0, description="asystole: no beat for this long while frames keep arriving")
    alarm_brady_bpm: float = Field(40.0, gt=0, description="extreme bradycardia: rate below this")
    alarm_brady_beats: int = Field(5, ge=1, description="... for this many consecutive beats")
    alarm_tachy_bpm: float = Field(140.0, gt=0, description="extreme tachycardia: rate above this")
    alarm_tachy_beats: int = Field(17, ge=1, description="... for this many consecutive beats")
    alarm_vt_bpm: float = Field(
        100.0, gt=0, description="ventricular tachycardia: morphology anomalies above this rate")
    alarm_vt_beats: int = Field(5, ge=1, description="... this many in a row")
    lead_off_s: float = Field(
        2.0, gt=0, description="lead off: the signal flat for this long (a stuck value: 0.5 s)")
    signal_lost_s: float = Field(
        10.0, gt=0, description="signal lost: no frame of a patient for this long")

    # Data and model.
    data_dir: Path | None = Field(None, description="directory holding ECG5000_TRAIN/TEST")
    cache_dir: Path = Field(Path.home() / ".cache" / "ecg-stream",
                            description="downloads, Maven libs")
    checkpoint: Path | None = Field(None, description="model checkpoint dir; default: shipped")
    checkpoint_sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$",
        description="the seal the worker requires of the checkpoint (`model seal` prints it)")

    # Local infrastructure (``ecg-stream infra``).
    state_dir: Path = Field(
        Path(".ecg"), validate_default=True,
        description="Kafka data, Redis AOF, logs, pid files, worker data folders; a relative "
                    "path resolves against the directory the settings are read in")
    kafka_version: str = Field("4.1.1", description="Kafka resolved from Maven Central")
    kafka_controller_port: int = Field(9093, ge=1, le=65535,
                                       description="KRaft controller port (local broker)")
    kafka_heap: str = Field("-Xmx768m", description="JVM heap option of the local broker")
    infra_timeout_s: float = Field(90.0, gt=0, description="longest wait for a service to start")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in split_servers(value):
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                msg = f"bootstrap server {redact_urls(server)!r} is not host:port"
                raise ValueError(msg)
        return value

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        # Resolved once, where the settings are read: a worker or child process started
        # elsewhere (they inherit the absolute path) uses the same folder.
        return value.expanduser().resolve()

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            _ = parts.port  # a port that is not a number raises here, not at first use
        except ValueError as exc:
            msg = f"redis URL {redact_urls(value)!r} is not a URL ({exc})"
            raise ValueError(msg) from None
        if parts.scheme not in {"redis", "rediss", "unix"}:
            msg = f"redis URL {redact_urls(value)!r} must start with redis://, rediss:// or unix://"
            raise ValueError(msg)
        return value

    @field_validator("bind_host")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", value):
            msg = f"bind host {value!r} is not an IP address or host name (e.g. 127.0.0.1, 0.0.0.0)"
            raise ValueError(msg)
        return value

    @field_validator("data_dir", "checkpoint", "checkpoint_sha256", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # docker-compose passes "${ECG_COMPOSE_CHECKPOINT:-}" as an empty string: the default.
        return None if value == "" else value

    @field_validator("web_token", mode="before")
    @classmethod
    def _token_length(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or text == "":
            return None  # empty (docker-compose's "${ECG_WEB_TOKEN:-}"): no token
        if not isinstance(text, str) or len(text) < MIN_TOKEN_LENGTH:
            msg = f"ECG_WEB_TOKEN must be at least {MIN_TOKEN_LENGTH} characters"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _rate_range(self) -> Settings:
        if self.min_sampling_rate > self.max_sampling_rate:
            msg = (f"min_sampling_rate {self.min_sampling_rate} is above max_sampling_rate "
                   f"{self.max_sampling_rate}")
            raise ValueError(msg)
        return self

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as ``host:port`` strings, as the Kafka clients take them."""
        return split_servers(self.kafka_bootstrap)

    @property
    def kafka_hosts(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port) pairs (IPv6 brackets removed)."""
        pairs = []
        for server in self.kafka_servers:
            host, _, port = server.rpartition(":")
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
        return {k: redact_urls(v) if isinstance(v, str) else v for k, v in data.items()}
