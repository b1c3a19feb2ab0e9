"""SIGINT and SIGTERM stop whatever ``demo`` and ``bench`` started, at any moment.

Each test runs the command as a real subprocess on ports and a state folder of its own, so
that it starts its own Kafka and Redis, signals it half-way, and then checks that none of
the processes it started (collected from /proc while it ran) is left, that the ports are
closed and that ``infra status`` for that state folder says stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stream.clients.probes import port_open
from stream.infra.procs import pid_alive
from stream.settings import Settings
from tests.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of ``root`` with its command line, read from /proc."""
    parents = {int(p.name): _ppid(int(p.name)) for p in Path("/proc").iterdir()
               if p.name.isdigit()}
    found: dict[int, str] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - set(found)
        found.update({pid: _cmdline(pid) for pid in frontier})
    return found


class Watch:
    """The processes a command started, collected every 0.2 s while it runs."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.seen = proc, {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self.proc.poll() is None:
            self.seen.update({pid: cmd for pid, cmd in descendants(self.proc.pid).items()
                              if cmd})
            time.sleep(0.2)

    def until(self, what: str, ready: Callable[[], bool], timeout: float = 120.0) -> None:
        """Wait for ``ready()`` while the command still runs."""
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"exited before {what}: {self.proc.stderr.read()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:.0f}s"
            time.sleep(0.1)

    def left_behind(self) -> list[str]:
        """The collected processes still alive (same pid, same command line)."""
        self._thread.join()
        return [f"{pid}: {cmd}" for pid, cmd in self.seen.items()
                if pid_alive(pid) and _cmdline(pid) == cmd]

    def named(self, text: str) -> list[int]:
        """Pids seen so far whose command line contains ``text``."""
        return [pid for pid, cmd in dict(self.seen).items() if text in cmd]


@pytest.fixture
def own_infra(settings: Settings, tmp_path: Path) -> Iterator[tuple[dict[str, str], list[int]]]:
    """Environment with ports and a state folder nobody else uses; a safety net after."""
    ports = free_ports(3)
    env = {**os.environ, "ECG_KAFKA_BOOTSTRAP": f"localhost:{ports[0]}",
           "ECG_KAFKA_CONTROLLER_PORT": str(ports[1]),
           "ECG_REDIS_URL": f"redis://localhost:{ports[2]}/0",
           "ECG_STATE_DIR": str(tmp_path / "state"), "ECG_CACHE_DIR": str(settings.cache_dir),
           "ECG_INFRA_TIMEOUT_S": "120"}
    yield env, ports
    subprocess.run([sys.executable, "-m", "stream", "infra", "down"], env=env,
                   capture_output=True, timeout=120, check=False)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "stream", *args], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _assert_all_stopped(watch: Watch, env: dict[str, str], ports: list[int]) -> None:
    assert watch.left_behind() == []
    assert [p for p in ports if port_open("127.0.0.1", p)] == []
    status = subprocess.run([sys.executable, "-m", "stream", "infra", "status", "--json"],
                            env=env, text=True, capture_output=True, timeout=60, check=True)
    states = json.loads(status.stdout)
    assert {s["state"] for s in states.values()} == {"stopped"}
    assert not any(s["managed"] for s in states.values())


def test_sigint_while_the_broker_starts_stops_it(own_infra: tuple[dict[str, str], list[int]],
                                                 tmp_path: Path) -> None:
    env, ports = own_infra
    proc = _start(env, "demo", "--workdir", str(tmp_path / "demo"), "--json")
    watch = Watch(proc)
    pidfile = tmp_path / "state" / "kafka" / "kafka.pid"
    watch.until("Kafka launch", lambda: pidfile.exists() and watch.named("kafka.Kafka"))
    assert not port_open("127.0.0.1", ports[0]), "the broker must still be starting"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err
    assert "interrupted" in err
    _assert_all_stopped(watch, env, ports)


def test_sigterm_while_bench_workers_start_stops_them(
        own_infra: tuple[dict[str, str], list[int]], tmp_path: Path) -> None:
    env, ports = own_infra
    proc = _start(env, "bench", "--workers", "2", "--duration", "1", "--rate", "50",
                  "--patients", "4", "--no-baseline", "--workdir", str(tmp_path / "bench"))
    watch = Watch(proc)
    watch.until("two workers", lambda: len(watch.named("stream worker")) == 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 143, err
    assert "terminated" in err
    assert watch.named("redis-server") and watch.named("kafka.Kafka")
    _assert_all_stopped(watch, env, ports)
