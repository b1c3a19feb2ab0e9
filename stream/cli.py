"""The ``ecg-stream`` command: one entry point, settings built once from env and options."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from stream.errors import EcgError
from stream.settings import Settings

EXIT_ERROR, EXIT_USAGE = 1, 2


def emit(data: Any, as_json: bool) -> None:
    """Print ``data`` as one JSON document or as ``key: value`` lines."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--kafka-bootstrap", envvar="ECG_KAFKA_BOOTSTRAP", help="Kafka host:port[,...].")
@click.option("--redis-url", envvar="ECG_REDIS_URL", help="Redis URL (redis:// or rediss://).")
@click.option("--data-dir", envvar="ECG_DATA_DIR", type=click.Path(file_okay=False),
              help="Directory with ECG5000_TRAIN/TEST; downloaded and cached when unset.")
@click.option("--checkpoint", envvar="ECG_CHECKPOINT", type=click.Path(),
              help="Model checkpoint directory (default: the shipped one).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, **options: Any) -> None:
    """Streaming ECG anomaly detection on Kafka, Faust and Redis.

    Every option can also come from an ECG_* environment variable (for example
    ECG_KAFKA_BOOTSTRAP); see the README's configuration reference.

    \b
    Examples:
      ecg-stream infra up            # local Kafka (KRaft) and Redis
      ecg-stream infra status --json
      ecg-stream model evaluate --protocol seed --json
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The client libraries log every connection at INFO and a failed bootstrap at ERROR; the
    # command reports failures itself, in one line with the next step.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.CRITICAL)
    overrides = {key: value for key, value in options.items() if value is not None}
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as exc:
        msg = f"invalid setting: {exc.errors()[0]['msg']}"
        raise click.UsageError(msg) from exc


def _register() -> None:
    from models.cli import model
    from producers.cli import replay
    from stream.alerts_cli import alerts
    from stream.bench_cli import bench
    from stream.config_cli import config
    from stream.demo import demo
    from stream.evaluate_cli import evaluate_stream
    from stream.infra.cli import infra
    from stream.smoke import smoke
    from stream.worker_cli import worker

    for command in (demo, infra, model, smoke, replay, worker, alerts, evaluate_stream,
                    bench, config):
        cli.add_command(command)


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Exit 130 after SIGINT, 143 after SIGTERM (what it started is stopped by then)."""
    from stream.lifecycle import Terminated, exit_code

    term = isinstance(exc, Terminated)
    click.echo("terminated (SIGTERM)" if term else "interrupted (SIGINT)", err=True)
    sys.exit(exit_code(exc))


def main() -> None:
    """Console entry point: run the CLI and turn project errors into one-line messages."""
    try:
        _register()
        cli.main(standalone_mode=False)
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
        from stream.cli_errors import explain

        message = explain(exc)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_ERROR)
