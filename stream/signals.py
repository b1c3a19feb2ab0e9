"""SIGINT and SIGTERM as exceptions, and blocks that hold them until a step is done.

:class:`stream.runs.lifecycle.Lifecycle` installs :func:`handle` for both signals; then
SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread, as Ctrl-C
raises ``KeyboardInterrupt``. Inside :func:`held` a signal is remembered instead and raised
by :func:`raise_pending` after the block (the first one wins).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Exit status after a signal: 128 + the signal's number, as a shell reports it.
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C raises ``KeyboardInterrupt``."""


class _Deferral:
    depth = 0  # > 0 while signals are held
    pending: int | None = None  # the first signal received while held


_state = _Deferral()


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception a signal becomes: ``Terminated`` for SIGTERM, else KeyboardInterrupt."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def exit_code(exc: BaseException) -> int:
    """The exit status for an interruption: 143 after SIGTERM, 130 after SIGINT."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def handle(signum: int, _frame: FrameType | None) -> None:
    """The signal handler: raise the interruption now, or remember it while held."""
    if _state.depth:
        _state.pending = _state.pending or signum
        return
    raise interruption(signum)


def holding() -> bool:
    """Whether signals are held now."""
    return _state.depth > 0


def raise_pending() -> None:
    """Raise the signal remembered while held, once nothing holds signals any more."""
    if _state.pending is not None and not _state.depth:
        signum, _state.pending = _state.pending, None
        log.warning("%s received: stopping", signal.Signals(signum).name)
        raise interruption(signum)


def discard_pending() -> None:
    """Forget a remembered signal (an error or interruption is already on its way out)."""
    _state.pending = None


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the block; the caller decides what happens after."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the block (start a process and record it); raise after.

    Only signals handled by :func:`handle` are held; without it installed this is a no-op.
    """
    with held():
        yield
    raise_pending()
