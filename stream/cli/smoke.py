"""``ecg-stream smoke``: bring the infrastructure up, round-trip through Kafka and Redis, report."""

from __future__ import annotations

import click

from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.runs.smoke import run_smoke
from stream.settings import Settings


@click.command("smoke", epilog=settings_epilog("smoke"))
@click.option("--messages", default=1000, show_default=True, help="Messages to round-trip.")
@click.option("--keep/--stop", default=False, help="Leave started services running.")
@json_option("Machine-readable output.")
@click.pass_obj
def smoke(settings: Settings, messages: int, keep: bool, as_json: bool) -> None:
    """Infrastructure up, a Kafka and a Redis round trip, then stop what it started.

    \b
    Example:
      ecg-stream smoke --messages 5000 --json
    """
    report = run_smoke(settings, messages, keep)
    emit(report, as_json)
    if not report["ok"]:
        raise click.exceptions.Exit(1)
