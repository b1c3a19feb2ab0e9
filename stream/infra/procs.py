"""Process helpers for the local services: pid files, liveness, detached start, clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from stream.signals import deferred_signals

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (names, not a bind)


def is_local(host: str) -> bool:
    """True when ``host`` names this machine's loopback (where we may start a service)."""
    return host in LOCAL_HOSTS or host.startswith("127.")


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in ``pidfile`` if that process is alive, else None."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (empty when unknown)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_detached(argv: Sequence[str], logfile: Path, pidfile: Path, cwd: Path) -> int:
    """Start ``argv`` in its own session with output to ``logfile``; record and return its pid."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    # A SIGINT/SIGTERM between the start and the pid file would leave an unknown process.
    with deferred_signals(), logfile.open("ab") as log:
        proc = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, start_new_session=True,
        )
        pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM ``pid`` and wait; SIGKILL after ``timeout``. True when it stopped cleanly."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
