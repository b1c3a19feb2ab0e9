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
from pathlib import Path
from types import TracebackType
from typing import Any

from stream.infra import services
from stream.runs.processes import start_worker
from stream.settings import Settings
from stream.signals import (
    SIGNALS,
    deferred_signals,
    discard_pending,
    handle,
    held,
    holding,
    raise_pending,
)

log = logging.getLogger(__name__)
WORKER_GRACE_S = 30.0


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
            self._previous = {s: signal.signal(s, handle) for s in SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        """Run the clean-up with signals deferred, restore the handlers, then raise any."""
        with held():
            try:
                suppressed = super().__exit__(exc_type, exc, tb)
            finally:
                for signum, previous in self._previous.items():
                    signal.signal(signum, previous)
        if exc_type is None:
            raise_pending()  # a signal during a clean finish still interrupts the command
        elif not holding():
            discard_pending()  # an error or interruption is already on its way out
        return suppressed

    def start_services(self, settings: Settings) -> list[Any]:
        """``services.up``, with whatever it starts (even half-way) stopped on exit."""
        launched: list[str] = []
        self.callback(services.stop_launched, settings, launched)
        return services.up(settings, launched=launched)

    def start_worker(self, settings: Settings, log_path: Path, reference: bool = False
                     ) -> subprocess.Popen:
        """``ecg-stream worker`` (or the reference consumer) as a child, stopped on exit.

        Stopped with SIGTERM, then SIGKILL.
        """
        with deferred_signals():
            if not self._workers:
                self.callback(self.stop_workers)
            proc = start_worker(settings, log_path, reference=reference)
            self._workers.append(proc)
        return proc

    def stop_workers(self, grace: float = WORKER_GRACE_S) -> list[int]:
        """Stop the workers started here now (all at once); their exit codes."""
        return stop_processes(self._workers, grace)
