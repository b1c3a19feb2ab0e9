"""The root ``ecg-stream`` group and what every command shares: settings, ``emit``, ``--json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from stream.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help_text: str = "Print one JSON document.") -> Callable[[F], F]:
    """The shared ``--json`` flag (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


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
