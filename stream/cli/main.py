"""The ``ecg-stream`` entry point: every command on the root group, errors in one line."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from stream.cli.alerts import alerts
from stream.cli.base import cli
from stream.cli.bench import bench
from stream.cli.board import board
from stream.cli.config import config
from stream.cli.demo import demo
from stream.cli.errors import explain
from stream.cli.evaluate import evaluate_record, evaluate_stream
from stream.cli.infra import infra
from stream.cli.model import model
from stream.cli.relearn import relearn
from stream.cli.replay import replay
from stream.cli.smoke import smoke
from stream.cli.worker import worker
from stream.errors import EcgError
from stream.signals import Terminated, exit_code

EXIT_ERROR, EXIT_USAGE = 1, 2

for _command in (demo, infra, model, smoke, replay, worker, alerts, evaluate_stream,
                 evaluate_record, bench, board, relearn,
                 config):
    cli.add_command(_command)


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Exit 130 after SIGINT, 143 after SIGTERM (what it started is stopped by then)."""
    term = isinstance(exc, Terminated)
    click.echo("terminated (SIGTERM)" if term else "interrupted (SIGINT)", err=True)
    sys.exit(exit_code(exc))


def main() -> None:
    """Console entry point: run the CLI and turn project errors into one-line messages."""
    try:
        # Not standalone, click returns a command's click.exceptions.Exit code instead of
        # exiting with it (demo's 1 and 3): exit with it here.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # SIGINT, or SIGTERM (Terminated)
            _interrupted(exc.__cause__)
        click.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except EcgError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except SystemExit:
        raise
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_ERROR)
