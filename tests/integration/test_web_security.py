"""A real worker's web server: loopback by default, no Faust pages, dashboard behind a token."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from stream.settings import Settings
from tests.integration.test_dashboard import page  # noqa: F401 - the headless Chromium fixture
from tests.ports import free_port

pytestmark = pytest.mark.integration
TOKEN = "dashboard-token-0123456789"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the IPv4 and IPv6 sockets listening on ``port`` (/proc/net/tcp*)."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # the kernel prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
    return found


def _get(port: int, path: str, headers: dict[str, str] | None = None,
         read: int | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read(read) if read else response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def test_worker_web_server_is_closed_by_default_and_the_dashboard_needs_the_token(
        pipeline_settings: Callable[..., Settings], workers, page: Any) -> None:  # noqa: F811
    port = free_port()
    settings = pipeline_settings(worker_web_port=port, web_token=SecretStr(TOKEN))
    assert settings.bind_host == "127.0.0.1"  # the default
    workers(settings, 1)

    assert _listening_addresses(port) == {"127.0.0.1"}
    for path in ("/router/", "/table/", "/graph/", "/stats/", "/assignment/", "/performance/"):
        assert _get(port, path)[0] == 404, path
    # /health and /metrics stay open (no patient data); so does Faust's bare index.
    assert _get(port, "/health")[0] == 200 and _get(port, "/metrics")[0] == 200
    assert json.loads(_get(port, "/")[2]) == {"status": "OK"}

    for path in ("/dashboard/", "/dashboard/snapshot", "/dashboard/events",
                 "/dashboard/static/dashboard.js", "/dashboard/snapshot?token=wrong-token-123456"):
        status, headers, _ = _get(port, path)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer"), path
    assert _get(port, "/dashboard/snapshot",
                {"Authorization": "Bearer wrong-token-123456"})[0] == 401

    status, _, body = _get(port, "/dashboard/snapshot", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "patients" in json.loads(body)
    assert _get(port, f"/dashboard/snapshot?token={TOKEN}")[0] == 200

    # The browser's way in: ?token= once, then a cookie (HMAC of the token, not the token).
    status, headers, _ = _get(port, f"/dashboard/?token={TOKEN}")
    assert status == 303 and headers["location"] == "/dashboard/"
    cookie = headers["set-cookie"].split(";")[0]
    assert TOKEN not in cookie and "HttpOnly" in headers["set-cookie"]
    assert _get(port, "/dashboard/", {"Cookie": cookie})[0] == 200
    status, headers, first = _get(port, "/dashboard/events", {"Cookie": cookie}, read=11)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert first == b"retry: 1000"

    page.goto(f"http://127.0.0.1:{port}/dashboard/?token={TOKEN}")
    page.wait_for_function("document.getElementById('status').textContent === 'live'",
                           timeout=20_000)
    assert page.url == f"http://127.0.0.1:{port}/dashboard/"  # the token left the address bar
