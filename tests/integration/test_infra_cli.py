"""`ecg-stream infra up|status|down` on ports of its own: start, reuse, status, clean stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from stream.settings import Settings
from tests.ports import free_ports


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream", *args], env=env, text=True,
                          capture_output=True, timeout=180, check=False)


def test_up_twice_status_and_down(infra: Settings, tmp_path: Path) -> None:
    kafka_port, controller_port, redis_port = free_ports(3)
    env = {**os.environ,
           "ECG_KAFKA_BOOTSTRAP": f"localhost:{kafka_port}",
           "ECG_KAFKA_CONTROLLER_PORT": str(controller_port),
           "ECG_REDIS_URL": f"redis://localhost:{redis_port}/0",
           "ECG_STATE_DIR": str(tmp_path / "state"),
           "ECG_CACHE_DIR": str(infra.cache_dir)}
    try:
        first = _cli(env, "infra", "up", "--json")
        assert first.returncode == 0, first.stderr
        started = json.loads(first.stdout)
        assert {s["state"] for s in started.values()} == {"running"}
        assert started["kafka"]["started"] and started["redis"]["started"]

        second = json.loads(_cli(env, "infra", "up", "--json").stdout)
        assert not second["kafka"]["started"] and not second["redis"]["started"]
        assert second["kafka"]["pid"] == started["kafka"]["pid"], "up twice must not duplicate"

        status = json.loads(_cli(env, "infra", "status", "--json").stdout)
        assert status["kafka"]["managed"] and status["kafka"]["state"] == "running"
        assert (tmp_path / "state" / "redis" / "appendonly.aof").exists() or \
            (tmp_path / "state" / "redis" / "appendonlydir").is_dir()
    finally:
        stopped = json.loads(_cli(env, "infra", "down", "--json").stdout)
    assert {s["state"] for s in stopped.values()} == {"stopped"}
    after = json.loads(_cli(env, "infra", "status", "--json").stdout)
    assert {s["state"] for s in after.values()} == {"stopped"}
    assert not after["kafka"]["managed"]


def test_port_taken_by_something_else_is_a_clear_error(infra: Settings, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**os.environ, "ECG_KAFKA_BOOTSTRAP": f"localhost:{port}",
               "ECG_STATE_DIR": str(tmp_path / "state"), "ECG_INFRA_TIMEOUT_S": "20"}
        result = _cli(env, "infra", "up")
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "not a healthy Kafka broker" in result.stderr
