"""The ward board's web server (aiohttp): the board, one page per patient, health and metrics.

| URL | what |
|---|---|
| ``/board/`` | every patient: state, heart rate, last anomaly, alarm, learning |
| ``/board/patient?id=P`` | one patient: the strip in mV with beat marks (beat mode: beats) |
| ``/board/snapshot``, ``/board/events`` | the board as JSON, once or as server-sent events |
| ``/board/patient/snapshot?id=P``, ``.../events?id=P`` | one patient, likewise |
| ``/health``, ``/metrics`` | readiness (partitions, lag); Prometheus counts (no patient data) |

Every ``/board/`` URL needs the access token when ``ECG_WEB_TOKEN`` is set
(:mod:`stream.observe.access`). ``?q=`` filters the board by patient id (substring) and
``?limit=`` caps its rows (default 1,000, the most urgent first; the counts cover everyone).
Snapshots are built at most once per interval and query, whatever the number of viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import SecretStr

from stream.board.feed import KINDS, BoardFeed
from stream.board.state import Board
from stream.observe.access import BOARD, TokenGate

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
VENDOR = Path(__file__).parents[1] / "observe" / "dashboard_static" / "vendor"
FILES = {  # URL name -> (path, content type)
    "common.js": (STATIC / "common.js", "text/javascript"),
    "board.js": (STATIC / "board.js", "text/javascript"),
    "patient.js": (STATIC / "patient.js", "text/javascript"),
    "board.css": (STATIC / "board.css", "text/css"),
    "uPlot.iife.min.js": (VENDOR / "uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": (VENDOR / "uPlot.min.css", "text/css"),
}
STREAM_LIFETIME_S = 300.0  # an event stream is closed after this; the browser reconnects
DEFAULT_LIMIT = 1000
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Views:
    """Board and patient snapshots, each built at most once per ``interval_s`` and query."""

    def __init__(self, board: Board, feed: BoardFeed, interval_s: float) -> None:
        self.board, self.feed, self.interval_s = board, feed, interval_s
        self._cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self.closing = asyncio.Event()  # set at shutdown: event streams end at once

    def _cached(self, key: tuple[str, ...], build: Callable[[], dict[str, Any]]
                ) -> dict[str, Any]:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.interval_s / 2:
            return hit[1]
        if len(self._cache) > 32:
            self._cache.clear()
        value = build()
        self._cache[key] = (now, value)
        return value

    def overview(self, query: str, limit: int) -> dict[str, Any]:
        """The board (rows matching ``query``, at most ``limit``) with the feed's counts."""
        def build() -> dict[str, Any]:
            snap = self.board.overview(_now_ms())
            rows = [r for r in snap["patients"] if query in r["patient"]] if query \
                else snap["patients"]
            snap.update(patients=rows[:limit], shown=min(limit, len(rows)), matching=len(rows),
                        total=len(self.board), feed=self._feed())
            return snap
        return self._cached(("board", query, str(limit)), build)

    def patient(self, patient: str) -> dict[str, Any]:
        """One patient's view (``found`` false when the board has nothing of them)."""
        def build() -> dict[str, Any]:
            view = self.board.patient_view(patient, _now_ms())
            return {"time_ms": _now_ms(), "patient": patient, "found": view is not None,
                    **(view or {}), "feed": self._feed()}
        return self._cached(("patient", patient), build)

    def _feed(self) -> dict[str, Any]:
        c = self.feed.counts
        newest = c.newest_record_ms
        return {"read": c.read, "invalid": c.invalid, "lag": c.lag, "partitions": c.partitions,
                "newest_record_age_s": None if newest is None
                else round(max(0, _now_ms() - newest) / 1000, 1)}


class BoardCollector(Collector):
    """Prometheus counts of the board: records read and skipped, lag, patients by state."""

    def __init__(self, views: Views) -> None:
        self.views = views

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Read from the feed's counts and the board at scrape time."""
        counts = self.views.feed.counts
        read = CounterMetricFamily("ecg_board_records", "Records read, by topic kind",
                                   labels=["topic"])
        invalid = CounterMetricFamily("ecg_board_invalid_records",
                                      "Records skipped as unreadable, by topic kind",
                                      labels=["topic"])
        lag = GaugeMetricFamily("ecg_board_lag_records", "Records not yet read, by topic kind",
                                labels=["topic"])
        for kind in KINDS:
            read.add_metric([kind], counts.read[kind])
            invalid.add_metric([kind], counts.invalid[kind])
            lag.add_metric([kind], counts.lag.get(kind, 0))
        patients = GaugeMetricFamily("ecg_board_patients", "Patients on the board, by state",
                                     labels=["state"])
        for state, n in self.views.board.by_state(_now_ms()).items():
            patients.add_metric([state], n)
        yield from (read, invalid, lag, patients)


def _query_limit(request: web.Request) -> tuple[str, int]:
    query = request.query.get("q", "")[:128]
    try:
        limit = max(1, min(100_000, int(request.query.get("limit", DEFAULT_LIMIT))))
    except ValueError:
        limit = DEFAULT_LIMIT
    return query, limit


async def _events(request: web.Request, snapshot: Callable[[], dict[str, Any]],
                  views: Views) -> web.StreamResponse:
    """Server-sent events: a snapshot now, then one every interval, until shutdown."""
    response = web.StreamResponse(headers={**HEADERS, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    deadline = time.monotonic() + STREAM_LIFETIME_S
    try:
        await response.write(b"retry: 1000\n\n")
        while time.monotonic() < deadline and not views.closing.is_set():
            payload = json.dumps(snapshot(), separators=(",", ":"), allow_nan=False)
            await response.write(f"data: {payload}\n\n".encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(views.closing.wait(), views.interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        log.debug("board event stream closed by the client or at shutdown")
    return response


def make_app(views: Views, token: SecretStr | None) -> web.Application:
    """The aiohttp application of the board."""
    gate = TokenGate(token, BOARD)
    routes = web.RouteTableDef()

    def page(name: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            if gate.enabled and gate.query_token_valid(request):
                response: web.StreamResponse = gate.enter(request)
                return response
            if not gate.allows(request):
                refused: web.StreamResponse = gate.refusal()
                return refused
            return web.Response(text=(STATIC / name).read_text(encoding="utf-8"),
                                content_type="text/html", headers=HEADERS)
        return handler

    def guarded(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            if not gate.allows(request):
                refused: web.StreamResponse = gate.refusal()
                return refused
            response: web.StreamResponse = await handler(request)
            return response
        return wrapper

    @routes.get("/")
    @routes.get("/board")
    async def to_board(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "/board/"})

    async def static(request: web.Request) -> web.StreamResponse:
        found = FILES.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=found[0].read_bytes(), content_type=found[1], headers=HEADERS)

    async def board_snapshot(request: web.Request) -> web.StreamResponse:
        return web.json_response(views.overview(*_query_limit(request)), headers=HEADERS)

    async def board_events(request: web.Request) -> web.StreamResponse:
        query, limit = _query_limit(request)
        return await _events(request, lambda: views.overview(query, limit), views)

    def _patient_id(request: web.Request) -> str:
        patient = request.query.get("id", "")
        if not patient:
            raise web.HTTPBadRequest(text="?id=PATIENT is required\n")
        return patient

    async def patient_snapshot(request: web.Request) -> web.StreamResponse:
        return web.json_response(views.patient(_patient_id(request)), headers=HEADERS)

    async def patient_events(request: web.Request) -> web.StreamResponse:
        patient = _patient_id(request)
        return await _events(request, lambda: views.patient(patient), views)

    @routes.get("/health")
    async def health(request: web.Request) -> web.StreamResponse:
        counts = views.feed.counts
        ready = views.feed.ready.is_set()
        body = {"status": "ok" if ready else "starting", "partitions": counts.partitions,
                "newest_record_ms": counts.newest_record_ms,
                "lag": counts.lag, "patients": len(views.board)}
        return web.json_response(body, status=200 if ready else 503)

    registry = CollectorRegistry()
    registry.register(BoardCollector(views))

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def closing(app: web.Application) -> None:
        views.closing.set()

    app = web.Application()
    app.on_shutdown.append(closing)
    app.add_routes(routes)
    app.router.add_get("/board/", page("board.html"))
    app.router.add_get("/board/patient", page("patient.html"))
    app.router.add_get("/board/static/{name}", guarded(static))
    app.router.add_get("/board/snapshot", guarded(board_snapshot))
    app.router.add_get("/board/events", guarded(board_events))
    app.router.add_get("/board/patient/snapshot", guarded(patient_snapshot))
    app.router.add_get("/board/patient/events", guarded(patient_events))
    return app
