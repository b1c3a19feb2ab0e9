"""The live dashboard's web views, served by the worker's Faust web server.

``/dashboard/`` is a static page (``stream/observe/dashboard_static``: our HTML and script, and the
vendored uPlot charting library) that listens to ``/dashboard/events``, a server-sent events
stream pushing a JSON snapshot every ``interval_s``: this worker's totals, throughput and lag,
its patients, recent anomalies and alerts, and the selected patient's recent beats with their
reconstructions. ``/dashboard/snapshot`` gives the same snapshot once (for scripts).

With an access token (``ECG_WEB_TOKEN``) every ``/dashboard/`` URL answers 401 unless the
request carries it: ``Authorization: Bearer TOKEN`` (scripts), ``?token=TOKEN`` (any URL),
or the cookie the page sets when opened once as ``/dashboard/?token=TOKEN`` (it then
redirects to ``/dashboard/``, so the token leaves the address bar; the page's event stream
sends the cookie). The cookie holds an HMAC of the token, not the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import SecretStr

from stream.observe.livefeed import LiveFeed

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("dashboard_static")
FILES = {  # URL name -> (file under STATIC, content type)
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "dashboard.css": ("dashboard.css", "text/css"),
    "uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("vendor/uPlot.min.css", "text/css"),
}
STREAM_LIFETIME_S = 30.0  # an event stream is closed after this; the browser reconnects
Reconstruct = Callable[[NDArray[np.float32]], NDArray[np.float32]]
COOKIE = "ecg_dashboard"


class TokenGate:
    """The dashboard's access check; with no token configured every request passes."""

    def __init__(self, token: SecretStr | None) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None

    @property
    def cookie(self) -> str:
        """The cookie value that proves the token: an HMAC of it, not the token itself."""
        key = self._token or b""
        return hmac.new(key, b"ecg-dashboard-cookie", hashlib.sha256).hexdigest()

    def _is_token(self, value: str | None) -> bool:
        if not value or self._token is None:
            return False
        return hmac.compare_digest(value.encode(), self._token)

    def query_token_valid(self, request: Any) -> bool:
        """Whether the URL carries the token as ``?token=``."""
        return self._is_token(request.query.get("token"))

    def allows(self, request: Any) -> bool:
        """Bearer header, ``?token=`` or the page's cookie; always True without a token."""
        if self._token is None:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._is_token(value.strip()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return self.query_token_valid(request) or hmac.compare_digest(
            cookie.encode(), self.cookie.encode())


def refusal() -> Any:
    """HTTP 401 naming the ways to present the token."""
    from aiohttp import web as aioweb  # local: aiohttp loads only when used (fast --help)

    text = ("401: this dashboard needs its access token (ECG_WEB_TOKEN): open "
            "/dashboard/?token=TOKEN in the browser, or send 'Authorization: Bearer TOKEN'\n")
    return aioweb.Response(status=401, text=text,
                           headers={"WWW-Authenticate": 'Bearer realm="ecg-dashboard"'})


def _enter(request: Any, gate: TokenGate) -> Any:
    """303 to the same URL without ``?token=``, setting the cookie that stands for it."""
    from aiohttp import web as aioweb  # local: aiohttp loads only when used (fast --help)

    rest = {k: v for k, v in request.query.items() if k != "token"}
    response = aioweb.Response(status=303, headers={
        "Location": str(request.rel_url.with_query(rest)), "Cache-Control": "no-store"})
    response.set_cookie(COOKIE, gate.cookie, path="/dashboard/", httponly=True,
                        samesite="Strict")
    return response


def exposure_warning(bind_host: str, token: SecretStr | None) -> str | None:
    """A warning when the dashboard listens beyond loopback without a token, else None."""
    if token is not None or bind_host == "localhost":
        return None
    try:
        if ipaddress.ip_address(bind_host).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost
    return (f"the dashboard serves patients' beats without a token to every client that "
            f"reaches {bind_host}: set ECG_WEB_TOKEN (docs/operations.md, Security)")


class Snapshots:
    """Builds dashboard snapshots; reconstructions run in a thread and are cached per patient."""

    def __init__(self, feed: LiveFeed, reconstruct: Reconstruct, info: dict[str, Any]) -> None:
        self.feed, self.reconstruct, self.info = feed, reconstruct, info
        self._cache: dict[str, tuple[tuple[int, ...], list[list[float]]]] = {}

    async def build(self, patient: str | None) -> dict[str, Any]:
        """The snapshot for ``patient`` (default: the most recently seen one)."""
        overview = self.feed.overview(int(time.time()))
        if not patient and overview["patients"]:
            patient = overview["patients"][0]["patient"]
        view = self.feed.patient_view(patient) if patient else None
        if patient and view is not None:
            found = self.feed.patient_samples(patient)
            view["samples"] = [] if found is None else np.round(found[1], 4).tolist()
            view["reconstructions"] = await self._reconstructions(patient, found)
        return {"info": self.info, "time_ms": time.time_ns() // 1_000_000, **overview,
                "patient": view}

    async def _reconstructions(self, patient: str,
                               found: tuple[tuple[int, ...], NDArray[np.float32]] | None
                               ) -> list[list[float]]:
        if found is None:
            return []
        seqs, samples = found
        cached = self._cache.get(patient)
        if cached is not None and cached[0] == seqs:
            return cached[1]
        recon = await asyncio.to_thread(self.reconstruct, samples)
        values = np.round(recon, 4).tolist()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[patient] = (seqs, values)
        return values


def add_dashboard(app: Any, snapshots: Snapshots, token: SecretStr | None = None,
                  interval_s: float = 1.0) -> None:
    """Register the dashboard's pages on a Faust app (its web server must be enabled).

    With ``token`` every page answers 401 to a request that does not carry it.
    """
    gate = TokenGate(token)

    @app.page("/dashboard/")
    async def dashboard_index(web: Any, request: Any) -> Any:
        if token is not None and gate.query_token_valid(request):
            return _enter(request, gate)
        if not gate.allows(request):
            return refusal()
        return web.html((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.page("/dashboard/static/{name}")
    async def dashboard_static(web: Any, request: Any, name: str) -> Any:
        if not gate.allows(request):
            return refusal()
        if name not in FILES:
            return web.text("not found", status=404)
        path, content_type = FILES[name]
        return web.bytes((STATIC / path).read_bytes(), content_type=content_type)

    @app.page("/dashboard/snapshot")
    async def dashboard_snapshot(web: Any, request: Any) -> Any:
        if not gate.allows(request):
            return refusal()
        return web.json(await snapshots.build(request.query.get("patient")))

    @app.page("/dashboard/events")
    async def dashboard_events(web: Any, request: Any) -> Any:
        if not gate.allows(request):
            return refusal()
        return await _event_stream(app, request, snapshots, interval_s)


async def _event_stream(app: Any, request: Any, snapshots: Snapshots, interval_s: float) -> Any:
    """Server-sent events: one snapshot every ``interval_s`` for ``STREAM_LIFETIME_S``."""
    from aiohttp import web as aioweb  # local: aiohttp loads only when used (fast --help)

    response = aioweb.StreamResponse(headers={"Content-Type": "text/event-stream",
                                              "Cache-Control": "no-cache"})
    await response.prepare(request)
    patient = request.query.get("patient")
    deadline = time.monotonic() + STREAM_LIFETIME_S
    try:
        await response.write(b"retry: 1000\n\n")
        while not app.should_stop and time.monotonic() < deadline:
            payload = json.dumps(await snapshots.build(patient), separators=(",", ":"))
            await response.write(f"data: {payload}\n\n".encode())
            await asyncio.sleep(interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        log.debug("dashboard event stream closed by the client or at shutdown")
    return response
