"""Wrong credentials name the real cause at once: a SASL broker and a Redis with a password.

The Kafka cases run against a throw-away SASL_PLAINTEXT broker (tests/integration/sasl_kafka);
the Redis cases against a redis-server with ``requirepass``, started by the project's own
launcher on a free port, as ``infra up`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from pydantic import SecretStr

from stream.clients.credentials import kafka_login_problem, redis_login_problem
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import require_kafka
from stream.clients.redis import redis_ping
from stream.errors import ConfigError
from stream.infra import kafka as kafka_launcher
from stream.infra import redis_server
from stream.runs.processes import settings_env
from stream.settings import Settings
from tests.integration import sasl_kafka
from tests.ports import free_port

pytestmark = pytest.mark.integration
REDIS_PASSWORD = "redis-right-password"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory,
                settings: Settings) -> Iterator[sasl_kafka.SaslBroker]:
    broker = sasl_kafka.start(settings, tmp_path_factory.mktemp("sasl-kafka"))
    try:
        yield broker
    finally:
        sasl_kafka.stop(broker)


def _cli(settings: Settings, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    begin = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "stream", *args], capture_output=True,
                          text=True, check=False, timeout=180,
                          env={**settings_env(settings), **env})
    return done, time.monotonic() - begin


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_right_sasl_password_logs_in(sasl_broker: sasl_kafka.SaslBroker,
                                         settings: Settings) -> None:
    good = sasl_broker.settings(settings)
    admin = KafkaAdminClient(**kafka_python_config(good), request_timeout_ms=20_000,
                             bootstrap_timeout_ms=20_000)
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()
    assert kafka_login_problem(good) is None
    require_kafka(good)


def test_a_wrong_sasl_password_says_authentication_failed(sasl_broker: sasl_kafka.SaslBroker,
                                                           settings: Settings,
                                                           tmp_path: Path) -> None:
    wrong = sasl_broker.settings(settings, password="not-the-password")
    begin = time.monotonic()
    with pytest.raises(ConfigError, match="authentication failed for user 'ecg'") as caught:
        require_kafka(wrong)
    assert time.monotonic() - begin < 5
    assert "not-the-password" not in str(caught.value)
    # What `infra up` / `smoke` do: not "no broker", not "the local broker is PLAINTEXT only".
    with pytest.raises(ConfigError, match="authentication failed"):
        kafka_launcher.up(sasl_broker.settings(settings, password="not-the-password",
                                               state_dir=tmp_path / "state"))
    # A command, end to end: one line, exit 1, at once.
    done, took = _cli(wrong, "replay", "--manifest", str(tmp_path / "m.jsonl"))
    line = _one_line(done.stderr)
    assert done.returncode == 1 and took < 30, (done.returncode, took)
    assert line.startswith(f"error: Kafka at 127.0.0.1:{sasl_broker.port} answers, but "
                           "authentication failed")
    assert "ECG_KAFKA_SASL_PASSWORD" in line and "infra up" not in line


def test_a_mechanism_the_broker_lacks_says_it_refused(sasl_broker: sasl_kafka.SaslBroker,
                                                       settings: Settings) -> None:
    scram = sasl_broker.settings(settings, kafka_sasl_mechanism="SCRAM-SHA-256")
    problem = kafka_login_problem(scram)
    assert problem is not None
    assert "the broker refused the connection (UnsupportedSaslMechanismError" in problem


@pytest.fixture
def redis_with_password(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The project's redis-server, started with requirepass on a free port."""
    data = settings.model_dump()
    data.update(state_dir=tmp_path / "state", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                redis_password=SecretStr(REDIS_PASSWORD))
    secured = Settings(**data)
    state = redis_server.up(secured)
    assert state.started and redis_ping(secured)
    try:
        yield secured
    finally:
        redis_server.down(secured)


def _with_redis_password(settings: Settings, password: str | None) -> Settings:
    data = settings.model_dump()
    data["redis_password"] = password
    return Settings(**data)


def test_a_wrong_redis_password_fails_infra_up_at_once(redis_with_password: Settings) -> None:
    wrong = _with_redis_password(redis_with_password, "not-the-password")
    begin = time.monotonic()
    with pytest.raises(ConfigError, match="answers, but authentication failed") as caught:
        redis_server.up(wrong)  # it started that redis-server: it used to wait 90 s for it
    assert time.monotonic() - begin < 5
    assert "not-the-password" not in str(caught.value)
    missing = redis_login_problem(_with_redis_password(redis_with_password, None))
    assert missing is not None and "requires a password and none is set" in missing
    assert redis_login_problem(redis_with_password) is None


def test_smoke_with_a_wrong_redis_password_fails_at_once(infra: Settings,
                                                         redis_with_password: Settings) -> None:
    data = redis_with_password.model_dump()
    data.update(kafka_bootstrap=infra.kafka_bootstrap, redis_password="not-the-password",
                infra_timeout_s=30.0)
    done, took = _cli(Settings(**data), "smoke", "--messages", "10",
                      ECG_KAFKA_HEAP=os.environ.get("ECG_KAFKA_HEAP", "-Xmx768m"))
    line = _one_line(done.stderr)
    assert done.returncode == 1, done.stderr
    assert took < 25, took  # not the 30 s (default 90 s) wait for a redis-server to answer
    assert "answers, but authentication failed" in line and "ECG_REDIS_PASSWORD" in line
    assert "not-the-password" not in done.stdout + done.stderr
