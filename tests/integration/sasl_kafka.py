"""A throw-away single-node Kafka with a SASL_PLAINTEXT (PLAIN) listener, for credential tests.

Same Kafka libraries as the project's launcher (resolved once into the cache); its own free
ports, its own log directory; user ``ecg`` with password :data:`PASSWORD`.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stream.clients.probes import port_open
from stream.infra import kafka, procs
from stream.infra.kafka import new_cluster_id
from stream.settings import Settings
from tests.ports import free_ports

USER, PASSWORD = "ecg", "ecg-sasl-secret"
JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        f'password="admin-secret" user_admin="admin-secret" user_{USER}="{PASSWORD}";')


@dataclass
class SaslBroker:
    """A running broker: its client port and pid."""

    port: int
    pid: int

    def settings(self, base: Settings, password: str = PASSWORD, **overrides: object) -> Settings:
        """Client settings for this broker with the given SASL password."""
        data = base.model_dump()
        data.update(kafka_bootstrap=f"127.0.0.1:{self.port}",
                    kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                    kafka_sasl_username=USER, kafka_sasl_password=password)
        data.update(overrides)
        return Settings(**data)


def _properties(home: Path, port: int, controller: int) -> str:
    return "\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER", "inter.broker.listener.name=SASL_PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=PLAIN",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}",
        f"log.dirs={home / 'data'}", "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=1", "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0", "",
    ])


def _java(libs: Path, *args: str) -> list[str]:
    log4j = resources.files("stream.infra").joinpath("log4j2.properties")
    return [kafka.java_binary(), "-Xmx384m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*", *args]


def start(settings: Settings, home: Path, timeout: float = 60.0) -> SaslBroker:
    """Format and start the broker under ``home``; wait until its SASL port answers."""
    libs = kafka.resolve(settings)
    port, controller = free_ports(2)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(_properties(home, port, controller))
    subprocess.run(_java(libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                         "-t", new_cluster_id(), "-c", str(config)),
                   check=True, capture_output=True)
    pid = procs.start_detached(_java(libs, "kafka.Kafka", str(config)), home / "kafka.log",
                               home / "kafka.pid", home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.pid_alive(pid):
            msg = f"SASL test broker exited: {(home / 'kafka.log').read_text()[-800:]}"
            raise RuntimeError(msg)
        if port_open("127.0.0.1", port):
            return SaslBroker(port, pid)
        time.sleep(0.3)
    procs.stop_pid(pid)
    msg = f"SASL test broker did not listen within {timeout:.0f}s"
    raise RuntimeError(msg)


def stop(broker: SaslBroker) -> None:
    """Stop the broker (SIGTERM, then SIGKILL)."""
    procs.stop_pid(broker.pid, timeout=30.0)
