"""A local ``redis-server`` with append-only persistence, started when none answers."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from stream.clients.credentials import require_redis_login
from stream.clients.probes import port_open
from stream.clients.redis import redis_ping
from stream.errors import ConfigError, InfraError, PrerequisiteError
from stream.infra import procs
from stream.infra.state import ServiceState, State
from stream.settings import Settings

log = logging.getLogger(__name__)


def _home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "redis"


def _address(settings: Settings) -> str:
    host, port = settings.redis_host_port
    return f"{host}:{port}"


def managed_pid(settings: Settings) -> int | None:
    """Pid of the redis-server this project started, if still running."""
    pid = procs.read_pid(_home(settings) / "redis.pid")
    return pid if pid and "redis-server" in procs.cmdline(pid) else None


def status(settings: Settings) -> ServiceState:
    """Does the configured Redis answer PING, and did we start it?"""
    pid = managed_pid(settings)
    state: State = "running" if redis_ping(settings) else ("unreachable" if pid else "stopped")
    return ServiceState("redis", _address(settings), state, bool(pid), pid,
                        detail="local redis-server" if pid else "external")


def _config(settings: Settings, home: Path, port: int) -> str:
    lines = [f"port {port}", "bind 127.0.0.1 ::1", f"dir {home}", "appendonly yes",
             "appendfsync everysec", "daemonize no", "protected-mode yes", "save \"\""]
    if settings.redis_password:
        lines.append(f"requirepass {settings.redis_password.get_secret_value()}")
    return "\n".join(lines) + "\n"


def up(settings: Settings, launched: list[str] | None = None) -> ServiceState:
    """Reuse the configured Redis when it answers; otherwise start redis-server on its port.

    ``"redis"`` is appended to ``launched`` before redis-server is started.
    """
    begin = time.monotonic()
    current = status(settings)
    if current.state == "running":
        return current
    require_redis_login(settings)  # Redis answers but refuses the credentials: fail at once
    host, port = settings.redis_host_port
    if not settings.redis_url.startswith("redis://") or not procs.is_local(host):
        msg = (
            f"no Redis answers at {_address(settings)}; a local redis-server is "
            "only started for a redis:// URL on a loopback address"
        )
        raise ConfigError(msg)
    pid = current.pid or _start(settings, host, port, launched)
    deadline = begin + settings.infra_timeout_s
    while time.monotonic() < deadline:
        if not procs.pid_alive(pid):
            msg = f"redis-server exited; see {_home(settings) / 'redis.log'}"
            raise InfraError(msg)
        if redis_ping(settings, timeout=0.5):
            return ServiceState("redis", _address(settings), "running", True, pid, True,
                                round(time.monotonic() - begin, 2), "local redis-server")
        time.sleep(0.1)
    msg = f"redis-server did not answer within {settings.infra_timeout_s:.0f}s"
    raise InfraError(msg)


def _start(settings: Settings, host: str, port: int,
           launched: list[str] | None = None) -> int:
    binary = shutil.which("redis-server")
    if not binary:
        msg = (
            "redis-server not found: apt-get install redis-server "
            "(or set ECG_REDIS_URL to a running Redis)"
        )
        raise PrerequisiteError(msg)
    if port_open(host, port):
        msg = (
            f"port {port} on {host} is taken by something that does not answer as "
            "the configured Redis: stop it or set ECG_REDIS_URL to another port"
        )
        raise InfraError(msg)
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "redis.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(_config(settings, home, port))
    log.info("starting redis-server on port %d", port)
    if launched is not None:
        launched.append("redis")
    return procs.start_detached([binary, str(conf)], home / "redis.log", home / "redis.pid", home)


def down(settings: Settings) -> ServiceState:
    """Stop the redis-server this project started (one we did not start is left alone)."""
    pid = managed_pid(settings)
    if pid is None:
        return status(settings)
    clean = procs.stop_pid(pid, timeout=30.0)
    (_home(settings) / "redis.pid").unlink(missing_ok=True)
    return ServiceState("redis", _address(settings), "stopped", True, pid,
                        detail="stopped cleanly" if clean else "killed after 30s")
