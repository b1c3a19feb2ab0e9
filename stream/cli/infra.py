"""``ecg-stream infra up|down|status``."""

from __future__ import annotations

import json

import click

from stream.cli.base import json_option
from stream.cli.settings_help import settings_epilog
from stream.infra import services
from stream.infra.state import ServiceState
from stream.runs.lifecycle import Lifecycle
from stream.settings import Settings


def _show(states: list[ServiceState], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({s.name: s.as_dict() for s in states}, indent=2))
        return
    for s in states:
        extra = f" pid={s.pid}" if s.pid else ""
        extra += f" ready in {s.ready_s:.1f}s" if s.ready_s is not None else ""
        managed = "started by ecg-stream" if s.managed else "not managed"
        click.echo(f"{s.name:<6} {s.state:<11} {s.address}  ({managed}{extra}) {s.detail}")


@click.group(epilog=settings_epilog("infra"))
def infra() -> None:
    """Local Kafka (KRaft, resolved from Maven Central) and Redis, without Docker.

    \b
    Examples:
      ecg-stream infra up
      ECG_KAFKA_BOOTSTRAP=localhost:19092 ecg-stream infra up
      ecg-stream infra status --json
      ecg-stream infra down
    """


@infra.command(epilog=settings_epilog("infra"))
@json_option("Machine-readable output.")
@click.pass_obj
def up(settings: Settings, as_json: bool) -> None:
    """Start Kafka and Redis (a healthy one at the configured address is reused)."""
    with Lifecycle() as life:  # interrupted half-way: stop what it started
        states = life.start_services(settings)
        life.pop_all()  # up: leave them running
    _show(states, as_json)


@infra.command(epilog=settings_epilog("infra"))
@json_option("Machine-readable output.")
@click.pass_obj
def down(settings: Settings, as_json: bool) -> None:
    """Stop the Kafka and Redis that `infra up` started; others are left alone."""
    _show(services.down(settings), as_json)


@infra.command(epilog=settings_epilog("infra"))
@json_option("Machine-readable output.")
@click.pass_obj
def status(settings: Settings, as_json: bool) -> None:
    """Show whether Kafka and Redis answer, and which ones this project manages."""
    _show(services.status(settings), as_json)
