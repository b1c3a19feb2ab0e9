"""The live dashboard's web views, served by the worker's Faust web server.

``/dashboard/`` is a static page (``stream/observe/dashboard_static``: our HTML and script, and the
vendored uPlot charting library) that listens to ``/dashboard/events``, a server-sent events
stream pushing a JSON snapshot every ``interval_s``: this worker's totals, throughput and lag,
its patients, recent anomalies and alerts, and the selected patient's recent beats with their
reconstructions. ``/dashboard/snapshot`` gives the same snapshot once (for scripts).

It is one worker's model view (diagnostics: what the model was given and what it
reconstructed, for the patients of this worker's partitions); the ward board
(``ecg-stream board``, :mod:`stream.board`) is the monitoring screen of every patient.

With an access token (``ECG_WEB_TOKEN``) every ``/dashboard/`` URL answers 401 unless the
request carries it (:mod:`stream.observe.access`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import SecretStr

from stream.observe.access import DASHBOARD, TokenGate, exposure_warning
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
__all__ = ["Snapshots", "add_dashboard", "exposure_warning"]


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
    gate = TokenGate(token, DASHBOARD)

    @app.page("/dashboard/")
    async def dashboard_index(web: Any, request: Any) -> Any:
        if token is not None and gate.query_token_valid(request):
            return gate.enter(request)
        if not gate.allows(request):
            return gate.refusal()
        return web.html((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.page("/dashboard/static/{name}")
    async def dashboard_static(web: Any, request: Any, name: str) -> Any:
        if not gate.allows(request):
            return gate.refusal()
        if name not in FILES:
            return web.text("not found", status=404)
        path, content_type = FILES[name]
        return web.bytes((STATIC / path).read_bytes(), content_type=content_type)

    @app.page("/dashboard/snapshot")
    async def dashboard_snapshot(web: Any, request: Any) -> Any:
        if not gate.allows(request):
            return gate.refusal()
        return web.json(await snapshots.build(request.query.get("patient")))

    @app.page("/dashboard/events")
    async def dashboard_events(web: Any, request: Any) -> Any:
        if not gate.allows(request):
            return gate.refusal()
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
