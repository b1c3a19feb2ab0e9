"""Stop whatever a command started, on success, on error, and on SIGINT or SIGTERM.

A :class:`Lifecycle` is an :class:`contextlib.ExitStack` that also turns SIGTERM into
:class:`Terminated` (a ``KeyboardInterrupt``), so that both signals take the same clean-up
path as Ctrl-C; the previous handlers are restored on exit. The services and worker
processes a command starts through it are registered *before* they are started (or, for a
worker, in the same signal-free step), so a signal at any moment, even while the broker is
half-way up, stops them. The clean-up itself runs with signals deferred.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from stream.settings import Settings

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Exit status after a signal: 128 + the signal's number, as a shell reports it.
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
WORKER_GRACE_S = 30.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C raises ``KeyboardInterrupt``."""


_depth = 0  # > 0 while signals are deferred
_pending: int | None = None  # the first signal received while deferred


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception a signal becomes: ``Terminated`` for SIGTERM, else KeyboardInterrupt."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def exit_code(exc: BaseException) -> int:
    """The exit status for an interruption: 143 after SIGTERM, 130 after SIGINT."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def _handler(signum: int, _frame: FrameType | None) -> None:
    global _pending
    if _depth:
        _pending = _pending or signum
        return
    raise interruption(signum)


def _raise_pending() -> None:
    global _pending
    if _pending is not None and not _depth:
        signum, _pending = _pending, None
        log.warning("%s received: stopping", signal.Signals(signum).name)
        raise interruption(signum)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the block (start a process and record it); raise after.

    Only signals handled by a :class:`Lifecycle` are held; without one this is a no-op.
    """
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    _raise_pending()


def stop_processes(procs: list[subprocess.Popen], grace: float = WORKER_GRACE_S) -> list[int]:
    """SIGTERM every live process, wait ``grace`` s for all, SIGKILL the rest; exit codes."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=grace))
            continue
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop within %.0fs: killing it", proc.pid, grace)
            proc.kill()
        codes.append(proc.wait())
    return codes


class Lifecycle(contextlib.ExitStack):
    """Everything one command starts, stopped in reverse order when the block ends.

    Example:
        with Lifecycle() as life:
            life.start_services(settings)
            worker = life.start_worker(settings, log_path)
    """

    def __init__(self) -> None:
        super().__init__()
        self._workers: list[subprocess.Popen] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Lifecycle:
        """Install the SIGINT/SIGTERM handlers (main thread only; elsewhere none)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, _handler) for s in SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        """Run the clean-up with signals deferred, restore the handlers, then raise any."""
        global _depth, _pending
        _depth += 1
        try:
            suppressed = super().__exit__(exc_type, exc, tb)
        finally:
            _depth -= 1
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
        if exc_type is None:
            _raise_pending()  # a signal during a clean finish still interrupts the command
        elif not _depth:
            _pending = None  # an error or interruption is already on its way out
        return suppressed

    def start_services(self, settings: Settings) -> list[Any]:
        """``services.up``, with whatever it starts (even half-way) stopped on exit."""
        from stream.infra import services

        launched: list[str] = []
        self.callback(services.stop_launched, settings, launched)
        return services.up(settings, launched=launched)

    def start_worker(self, settings: Settings, log_path: Path) -> subprocess.Popen:
        """``ecg-stream worker`` as a child, stopped (SIGTERM, then SIGKILL) on exit."""
        from stream.workers import start_worker

        with deferred_signals():
            if not self._workers:
                self.callback(self.stop_workers)
            proc = start_worker(settings, log_path)
            self._workers.append(proc)
        return proc

    def stop_workers(self, grace: float = WORKER_GRACE_S) -> list[int]:
        """Stop the workers started here now (all at once); their exit codes."""
        return stop_processes(self._workers, grace)
