"""Run the ward board: the topic reader and the web server in one event loop until a signal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from stream.board.feed import BoardFeed
from stream.board.state import Board
from stream.board.web import Views, make_app
from stream.settings import Settings
from stream.signals import SIGNALS, interruption

log = logging.getLogger(__name__)
MIN_ALARM_HOLD_S = 30.0
"""An alarm shows as the patient's state for the alert cool-down, but at least this long."""


@dataclass(frozen=True)
class BoardOptions:
    """How the board reads and serves (the defaults are ``ecg-stream board``'s)."""

    port: int = 6070
    lookback_s: float = 120.0
    interval_s: float = 0.5
    strip_s: float = 10.0
    max_patients: int = 10_000


def board_url(settings: Settings, port: int) -> str:
    """``http://host:port/board/`` as served on ``ECG_BIND_HOST``."""
    host = settings.bind_host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/board/"


def make_board(settings: Settings, opts: BoardOptions) -> Board:
    """The board's state with the alarm hold and learning period of these settings."""
    return Board(strip_s=opts.strip_s, max_patients=opts.max_patients,
                 alarm_hold_s=max(settings.alert_cooldown_s, MIN_ALARM_HOLD_S),
                 learning_s=settings.learning_s)


async def serve(settings: Settings, opts: BoardOptions,
                on_ready: Callable[[str, BoardFeed], None]) -> int | None:
    """Serve until SIGINT or SIGTERM; returns the signal's number (None: stopped otherwise)."""
    board = make_board(settings, opts)
    feed = BoardFeed(settings, board, opts.lookback_s)
    views = Views(board, feed, opts.interval_s)
    stop = asyncio.Event()
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(make_app(views, settings.web_token), access_log=None,
                           shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.bind_host, opts.port).start()
        reader = asyncio.create_task(feed.run(stop))
        ready = asyncio.create_task(feed.ready.wait())
        await asyncio.wait({reader, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if reader.done():
            reader.result()  # the reader failed before it was ready: raise its error
        on_ready(board_url(settings, opts.port), feed)
        await reader
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    return received[0] if received else None


def run_board(settings: Settings, opts: BoardOptions,
              on_ready: Callable[[str, BoardFeed], None]) -> None:
    """Run the board; a signal ends it as SIGINT/SIGTERM end every command (130 / 143)."""
    signum = asyncio.run(serve(settings, opts, on_ready))
    if signum is not None:
        raise interruption(signum)
