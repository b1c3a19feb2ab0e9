"""``ecg-stream worker``: build the worker (:mod:`stream.worker.compose`) and run it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import click

from stream.cli.settings_help import settings_epilog
from stream.settings import Settings


@click.command("worker", epilog=settings_epilog("worker"))
@click.option("--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_obj
def worker(settings: Settings, loglevel: str) -> None:
    """Run a Faust worker: score ecg.beats and segment+score ecg.signal.

    Several workers may run: they share the consumer group (ECG_WORKER_GROUP), split the
    partitions, and share the Redis statistics. Stop with SIGTERM or Ctrl-C.

    \b
    Examples:
      ecg-stream worker
      ECG_BATCH_SIZE=128 ECG_BATCH_WITHIN_MS=20 ecg-stream worker --loglevel info
    """
    import faust  # local: keeps --help fast

    from stream.worker.compose import build_app  # local: faust and torch, keeps --help fast

    app, ready = build_app(settings)
    runner = _ready_worker(faust.Worker, ready)(app, loglevel=loglevel, quiet=True)
    # Faust's progress spinner lowers the root logger to DEBUG, which makes every debug call
    # on the hot path build a log record (measured: ~5 % of the worker's CPU). No spinner.
    runner.spinner = None
    _run_in_datadir(runner, Path(app.conf.datadir))


def _ready_worker(base: type[Any], line: str) -> type[Any]:
    """``faust.Worker`` that prints ``line`` on stdout once the app has started."""

    class ReadyWorker(base):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            # sys.__stdout__: Faust redirects sys.stdout into its log while it runs.
            click.echo(line, file=sys.__stdout__)

    return ReadyWorker


def _run_in_datadir(runner: Any, datadir: Path) -> None:
    """Run the worker with its own Faust data folder under the state dir; remove it after.

    The folder (``ECG_STATE_DIR/faust/<group>-<host>-<pid>``) holds nothing that outlives the
    process (tables are in memory), so it goes on every exit that runs Python's clean-up,
    clean or not; a killed worker (SIGKILL, or exit 75) leaves an empty one behind.
    """
    datadir.parent.mkdir(parents=True, exist_ok=True)
    try:
        runner.execute_from_commandline()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
