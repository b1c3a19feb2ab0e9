"""Missing prerequisites produce one clear message saying what to install or change."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.errors import ConfigError, PrerequisiteError
from stream.infra import kafka, procs, redis_server
from stream.settings import Settings


def test_missing_java_names_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(PrerequisiteError, match="Java 17"):
        kafka.java_binary()


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "jdk" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(PrerequisiteError, match="found 11"):
        kafka.java_binary()


def test_missing_maven_with_empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteError, match="apt-get install maven"):
        kafka.resolve(Settings(cache_dir=tmp_path / "cache"))


def test_missing_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteError, match="apt-get install redis-server"):
        redis_server.up(Settings(state_dir=tmp_path, redis_url="redis://localhost:1/0"))


def test_remote_broker_is_never_started_locally(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="kafka.example.org:9092", state_dir=tmp_path)
    with pytest.raises(ConfigError, match="loopback"):
        kafka.up(settings)


def test_secured_local_broker_is_refused(tmp_path: Path) -> None:
    # port 1: no broker answers there, so ``up`` gets as far as deciding to start one
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_bootstrap="localhost:1",
                        state_dir=tmp_path)
    with pytest.raises(ConfigError, match="PLAINTEXT only"):
        kafka.up(settings)


@pytest.mark.parametrize(("host", "local"), [("localhost", True), ("127.0.0.1", True),
                                             ("127.1.2.3", True), ("::1", True),
                                             ("10.0.0.5", False), ("kafka", False)])
def test_is_local(host: str, local: bool) -> None:
    assert procs.is_local(host) is local


def test_server_properties_single_node_kraft(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="localhost:19092", kafka_controller_port=19093,
                        state_dir=tmp_path)
    props = dict(line.split("=", 1) for line in
                 kafka.server_properties(settings, kafka.KafkaPaths.of(settings)).splitlines()
                 if line)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://localhost:19092"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["log.dirs"].startswith(str(tmp_path.resolve()))


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.new_cluster_id()
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ" and len(cluster_id) == 22
