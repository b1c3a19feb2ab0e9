"""docker-compose.yml is checked statically (no Docker engine runs in CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from stream.cli.main import cli

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_present(compose: dict[str, Any]) -> None:
    assert {"kafka", "redis", "worker", "replay"} <= set(compose["services"])


def test_kafka_is_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "127.0.0.1:9092:9092" in kafka["ports"]


def test_redis_persists(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


@pytest.mark.parametrize("service", ["kafka", "redis"])
def test_infrastructure_has_healthchecks(compose: dict[str, Any], service: str) -> None:
    check = compose["services"][service]["healthcheck"]
    assert check["test"] and check["interval"] and check["retries"] >= 3


def test_worker_waits_for_healthy_infrastructure(compose: dict[str, Any]) -> None:
    depends = compose["services"]["worker"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    env = compose["services"]["worker"]["environment"]
    assert env["ECG_KAFKA_BOOTSTRAP"] == "kafka:29092"


@pytest.mark.parametrize("service", ["worker", "replay", "alerts"])
def test_commands_exist_in_the_cli(compose: dict[str, Any], service: str) -> None:
    args = compose["services"][service]["command"]
    ctx = click.Context(cli)
    name, command, rest = cli.resolve_command(ctx, list(args))
    assert name == args[0] and command is not None
    # the options it passes parse
    command.make_context(name, list(rest), parent=ctx, resilient_parsing=False)


def test_dockerfile_entrypoint_is_the_cli() -> None:
    text = (COMPOSE.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["ecg-stream"]' in text


def test_servers_listen_on_the_container_network_behind_a_token(compose: dict[str, Any]) -> None:
    # 127.0.0.1 inside a container would hide the worker from the published port and the
    # healthcheck; the port is published on the host's loopback only.
    env = compose["services"]["worker"]["environment"]
    assert env["ECG_BIND_HOST"] == "0.0.0.0"  # noqa: S104 - the container's own interfaces
    assert env["ECG_WEB_TOKEN"] == "${ECG_WEB_TOKEN:-}"
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["worker"]["ports"])
