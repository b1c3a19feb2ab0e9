from pathlib import Path

import pytest
from pydantic import ValidationError

from stream.clients.kafka import aiokafka_config, faust_broker_url, kafka_python_config
from stream.settings import Settings


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("ECG_"):
            monkeypatch.delenv(key)
    s = Settings()
    assert s.kafka_bootstrap == "localhost:9092"
    assert s.redis_url == "redis://localhost:6379/0"
    assert (s.topic_beats, s.topic_scores, s.topic_deadletter) == (
        "ecg.beats", "ecg.scores", "ecg.deadletter")
    assert s.topic_partitions == 4


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECG_KAFKA_BOOTSTRAP", "broker-a:19092,broker-b:19093")
    monkeypatch.setenv("ECG_REDIS_URL", "rediss://cache:6380/2")
    monkeypatch.setenv("ECG_DATA_DIR", "/data/ecg")
    monkeypatch.setenv("ECG_TOPIC_PARTITIONS", "8")
    s = Settings()
    assert s.kafka_hosts == [("broker-a", 19092), ("broker-b", 19093)]
    assert s.redis_host_port == ("cache", 6380)
    assert s.data_dir == Path("/data/ecg")
    assert s.topic_partitions == 8


def test_keyword_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECG_KAFKA_BOOTSTRAP", "env:1")
    assert Settings(kafka_bootstrap="cli:2").kafka_bootstrap == "cli:2"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kafka_bootstrap", "no-port"),
        ("kafka_bootstrap", "host:abc"),
        ("redis_url", "http://localhost:6379"),
        ("topic_partitions", 0),
        ("kafka_security_protocol", "TLS"),
        ("unknown_field", 1),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.kafka_bootstrap = "other:1"  # type: ignore[misc]


def test_secrets_are_masked_in_output() -> None:
    s = Settings(kafka_sasl_password="hunter2", redis_url="redis://:pw123@localhost:6379/0",
                 redis_password="pw123")
    text = repr(s) + str(s.redacted())
    assert "hunter2" not in text
    assert "pw123" not in str(s.redacted())


def test_sasl_settings_reach_every_client() -> None:
    s = Settings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_PLAINTEXT",
                 kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="u",
                 kafka_sasl_password="p")
    for config in (kafka_python_config(s), aiokafka_config(s)):
        assert config["security_protocol"] == "SASL_PLAINTEXT"
        assert config["sasl_mechanism"] == "SCRAM-SHA-256"
        assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("u", "p")
    assert faust_broker_url(s) == "kafka://k:9093"


def test_plaintext_adds_no_security_keywords() -> None:
    config = kafka_python_config(Settings())
    assert config["security_protocol"] == "PLAINTEXT"
    assert "sasl_mechanism" not in config and "ssl_context" not in config


def test_processing_guarantee_reaches_the_faust_app() -> None:
    from stream.worker.app import create_app

    for guarantee in ("at_least_once", "exactly_once"):
        app = create_app(Settings(processing_guarantee=guarantee, worker_session_timeout_s=12),
                         lambda publish: None)
        assert app.conf.processing_guarantee.value == guarantee
        assert app.conf.broker_session_timeout == 12
        assert app.conf.broker_heartbeat_interval == 4
