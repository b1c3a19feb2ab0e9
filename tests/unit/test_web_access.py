"""Who may reach the project's servers: bind address, Faust's own pages, dashboard token."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from stream.alerts.metrics import RunCounts, serve_alert_metrics
from stream.alerts.rule import AlertCounters
from stream.observe.dashboard import exposure_warning
from stream.settings import Settings
from stream.worker.app import web_options
from tests.ports import free_port

TOKEN = SecretStr("0123456789abcdef")


def test_worker_web_server_binds_to_the_setting_and_drops_faust_pages() -> None:
    options = web_options(Settings(worker_web_port=6070))
    assert options["web_enabled"] is True and options["web_port"] == 6070
    assert options["web_bind"] == "127.0.0.1"
    for page in ("router", "tables", "stats", "graph", "metrics"):
        assert options[f"web_{page}_enabled"] is False
    assert web_options(Settings(bind_host="0.0.0.0"))["web_bind"] == "0.0.0.0"  # noqa: S104
    assert web_options(Settings())["web_enabled"] is False


@pytest.mark.parametrize(("host", "token", "warns"), [
    ("127.0.0.1", None, False), ("::1", None, False), ("localhost", None, False),
    ("0.0.0.0", None, True), ("10.1.2.3", None, True), ("worker.lan", None, True),  # noqa: S104
    ("0.0.0.0", TOKEN, False),  # noqa: S104
])
def test_an_open_dashboard_beyond_loopback_is_warned_about(host: str, token: SecretStr | None,
                                                            warns: bool) -> None:
    warning = exposure_warning(host, token)
    assert (warning is not None) == warns
    if warning:
        assert "ECG_WEB_TOKEN" in warning and host in warning


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the IPv4 sockets listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_alert_metrics_listen_on_loopback_by_default() -> None:
    port = free_port()
    server = serve_alert_metrics(AlertCounters(), RunCounts(), port, Settings().bind_host)
    try:
        assert _listening_addresses(port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
            assert b"ecg_alerts_total" in resp.read()
    finally:
        server.shutdown()
