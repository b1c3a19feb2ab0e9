"""A single-node Apache Kafka (KRaft, broker+controller) resolved from Maven Central."""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stream.clients.credentials import require_kafka_login
from stream.clients.probes import kafka_round_trip, port_open
from stream.errors import ConfigError, InfraError, PrerequisiteError
from stream.infra import procs
from stream.infra.state import ServiceState, State
from stream.settings import Settings

log = logging.getLogger(__name__)
MIN_JAVA = 17
MAIN_CLASS = "kafka.Kafka"


@dataclass(frozen=True)
class KafkaPaths:
    """Where the broker's libraries (cache) and state (project-local) live."""

    libs: Path
    home: Path

    @classmethod
    def of(cls, settings: Settings) -> KafkaPaths:
        """Paths for the configured Kafka version, cache and state directories."""
        libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"
        return cls(libs=libs, home=settings.state_dir.resolve() / "kafka")

    @property
    def data(self) -> Path:
        """KRaft log directory (metadata and topic data)."""
        return self.home / "data"

    @property
    def pidfile(self) -> Path:
        """Pid of the broker this project started."""
        return self.home / "kafka.pid"

    @property
    def logfile(self) -> Path:
        """The broker's stdout and stderr."""
        return self.home / "kafka.log"

    @property
    def config(self) -> Path:
        """The generated server.properties."""
        return self.home / "server.properties"


def java_binary() -> str:
    """The java executable ($JAVA_HOME/bin/java first); raise when missing or older than 17."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        msg = (
            "Java 17+ is required for the local Kafka broker: install a JDK "
            "(Debian: apt-get install openjdk-17-jre-headless) or set "
            "ECG_KAFKA_BOOTSTRAP to a running broker"
        )
        raise PrerequisiteError(msg)
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    major = int(match.group(2)) if match and major == 1 and match.group(2) else major
    if major < MIN_JAVA:
        msg = (
            f"Kafka 4 needs Java {MIN_JAVA}+, found {major or 'unknown'} at "
            f"{java}: install a newer JDK or point JAVA_HOME at one"
        )
        raise PrerequisiteError(msg)
    return java


def resolve(settings: Settings) -> Path:
    """Resolve Kafka and its runtime dependencies into the cache (once); return the libs dir."""
    paths = KafkaPaths.of(settings)
    marker = paths.libs / ".complete"
    if marker.exists():
        return paths.libs
    mvn = shutil.which("mvn")
    if not mvn:
        msg = (
            "Maven is required once to fetch Kafka from Maven Central: "
            "apt-get install maven (or set ECG_KAFKA_BOOTSTRAP to a broker)"
        )
        raise PrerequisiteError(msg)
    paths.libs.mkdir(parents=True, exist_ok=True)
    pom = resources.files("stream.infra").joinpath("pom.xml")
    with resources.as_file(pom) as pom_path:
        argv = [mvn, "-B", "-q", "-f", str(pom_path), f"-Dkafka.version={settings.kafka_version}",
                "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-DoutputDirectory={paths.libs}"]
        log.info("resolving Apache Kafka %s from Maven Central", settings.kafka_version)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise InfraError("Maven could not resolve Kafka " + settings.kafka_version + ": "
                         + " | ".join(tail))
    marker.write_text(settings.kafka_version + "\n")
    return paths.libs


def server_properties(settings: Settings, paths: KafkaPaths) -> str:
    """The broker's configuration: one combined broker+controller on loopback."""
    host, port = settings.kafka_hosts[0]
    ctl = settings.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{ctl}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={paths.data}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=24",
        "",
    ])


def _java_cmd(settings: Settings, libs: Path, *args: str) -> list[str]:
    log4j = resources.files("stream.infra").joinpath("log4j2.properties")
    return [java_binary(), settings.kafka_heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*", *args]


def new_cluster_id() -> str:
    """A random KRaft cluster id: a UUID in URL-safe base64, 22 characters.

    One in 64 such ids starts with "-", which the storage tool's argument parser takes for an
    option ("--cluster-id: expected one argument"); Kafka's own ``Uuid.randomUuid`` draws
    again in that case, and so does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(settings: Settings, paths: KafkaPaths, libs: Path) -> None:
    """Format the KRaft log directory once (idempotent: skipped when already formatted)."""
    if (paths.data / "meta.properties").exists():
        return
    argv = _java_cmd(settings, libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                     "-t", new_cluster_id(), "-c", str(paths.config))
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"formatting KRaft storage failed: {done.stderr.strip()[-400:]}"
        raise InfraError(msg)


def managed_pid(settings: Settings) -> int | None:
    """Pid of the broker this project started, if it is still running."""
    pid = procs.read_pid(KafkaPaths.of(settings).pidfile)
    return pid if pid and MAIN_CLASS in procs.cmdline(pid) else None


def status(settings: Settings) -> ServiceState:
    """Is a healthy broker answering at the configured address, and did we start it?"""
    host, port = settings.kafka_hosts[0]
    pid = managed_pid(settings)
    healthy = port_open(host, port) and kafka_round_trip(settings, timeout=5.0)
    state: State = "running" if healthy else ("unreachable" if pid else "stopped")
    detail = f"Apache Kafka {settings.kafka_version} (KRaft)" if pid else "external"
    return ServiceState("kafka", settings.kafka_bootstrap, state, bool(pid), pid, detail=detail)


def up(settings: Settings, launched: list[str] | None = None) -> ServiceState:
    """Reuse a healthy broker at the configured address, or start a local one and wait for it.

    ``"kafka"`` is appended to ``launched`` before the broker's process is started.
    """
    begin = time.monotonic()
    current = status(settings)
    if current.state == "running":
        return current
    require_kafka_login(settings)  # a broker that answers but refuses our login: say so
    if current.pid:
        return _wait_ready(settings, current.pid, begin)
    host, port = settings.kafka_hosts[0]
    _check_startable(settings, host, port)
    paths = KafkaPaths.of(settings)
    libs = resolve(settings)
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings, paths))
    format_storage(settings, paths, libs)
    argv = _java_cmd(settings, libs, MAIN_CLASS, str(paths.config))
    if launched is not None:
        launched.append("kafka")
    pid = procs.start_detached(argv, paths.logfile, paths.pidfile, cwd=paths.home)
    log.info("started Kafka %s (pid %d), waiting for it", settings.kafka_version, pid)
    return _wait_ready(settings, pid, begin)


def _check_startable(settings: Settings, host: str, port: int) -> None:
    if len(settings.kafka_hosts) > 1 or not procs.is_local(host):
        msg = (
            f"no Kafka broker answers at {settings.kafka_bootstrap}; a local one is "
            "only started for a single loopback address (e.g. localhost:9092)"
        )
        raise ConfigError(msg)
    if settings.kafka_security_protocol != "PLAINTEXT":
        msg = (
            "the local broker is PLAINTEXT only; unset ECG_KAFKA_SECURITY_PROTOCOL "
            "or point ECG_KAFKA_BOOTSTRAP at your secured cluster"
        )
        raise ConfigError(msg)
    for taken in (port, settings.kafka_controller_port):
        if port_open(host, taken):
            msg = (
                f"port {taken} on {host} is taken by something that is not a healthy "
                "Kafka broker: stop it, or choose other ports with "
                "ECG_KAFKA_BOOTSTRAP "
                "and ECG_KAFKA_CONTROLLER_PORT"
            )
            raise InfraError(msg)


def _wait_ready(settings: Settings, pid: int, begin: float) -> ServiceState:
    host, port = settings.kafka_hosts[0]
    deadline = begin + settings.infra_timeout_s
    while time.monotonic() < deadline:
        if not procs.pid_alive(pid):
            tail = _log_tail(KafkaPaths.of(settings).logfile)
            msg = f"the Kafka broker exited during start-up; last log lines: {tail}"
            raise InfraError(msg)
        if port_open(host, port) and kafka_round_trip(settings, timeout=10.0):
            ready = round(time.monotonic() - begin, 2)
            return ServiceState("kafka", settings.kafka_bootstrap, "running", True, pid, True,
                                ready,
                                f"Apache Kafka {settings.kafka_version} (KRaft)")
        time.sleep(0.5)
    msg = (
        f"Kafka did not become ready within {settings.infra_timeout_s:.0f}s; "
        f"see {KafkaPaths.of(settings).logfile}"
    )
    raise InfraError(msg)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def down(settings: Settings) -> ServiceState:
    """Stop the broker this project started (a broker we did not start is left alone)."""
    pid = managed_pid(settings)
    if pid is None:
        return status(settings)
    clean = procs.stop_pid(pid, timeout=60.0)
    KafkaPaths.of(settings).pidfile.unlink(missing_ok=True)
    detail = "stopped cleanly" if clean else "killed after 60s"
    return ServiceState("kafka", settings.kafka_bootstrap, "stopped", True, pid, detail=detail)
