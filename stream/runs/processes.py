"""Start, watch and stop worker processes (used by ``demo``, ``bench`` and the tests)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stream.clients.kafka import kafka_python_config
from stream.errors import InfraError
from stream.settings import Settings

log = logging.getLogger(__name__)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings (secrets included)."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(f"ECG_{name.upper()}", None)
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"ECG_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def start_worker(settings: Settings, log_path: Path, loglevel: str = "info",
                 reference: bool = False) -> subprocess.Popen:
    """Start ``ecg-stream worker`` as a child process logging to ``log_path``.

    With ``reference``, the reference consumer (``python -m stream.reference``) instead.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = log_path.open("ab")
    command = (["-m", "stream.reference"] if reference
               else ["-m", "stream", "worker", "--loglevel", loglevel])
    try:
        return subprocess.Popen([sys.executable, *command],
                                env=settings_env(settings), stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        handle.close()


def group_members(settings: Settings) -> tuple[str, int]:
    """State and member count of the workers' consumer group."""
    from kafka.admin import (
        KafkaAdminClient,  # local: kafka-python loads only when used (fast --help)
    )

    # kafka-python cannot decode Faust's group metadata and warns on every call; harmless.
    logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)
    admin = KafkaAdminClient(**kafka_python_config(settings), request_timeout_ms=5000)
    try:
        info: dict[str, Any] = admin.describe_groups([settings.worker_group])[settings.worker_group]
    finally:
        admin.close()
    return str(info.get("group_state", "")), len(info.get("members") or [])


def wait_group_stable(settings: Settings, members: int, procs: list[subprocess.Popen],
                      timeout: float = 120.0) -> float:
    """Wait until ``members`` workers form a stable group; return the seconds it took."""
    begin = time.monotonic()
    while time.monotonic() - begin < timeout:
        for proc in procs:
            if proc.poll() is not None:
                msg = f"a worker exited with code {proc.returncode} during start-up"
                raise InfraError(msg)
        try:
            state, count = group_members(settings)
        except Exception as exc:  # noqa: BLE001 - the group may not exist yet
            log.debug("group not described yet: %r", exc)
            state, count = "", 0
        if state.lower() == "stable" and count >= members:
            return time.monotonic() - begin
        time.sleep(0.5)
    msg = f"workers did not form a stable group within {timeout:.0f}s"
    raise InfraError(msg)


def stop_worker(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM a worker and wait (SIGKILL after ``timeout``); return its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
