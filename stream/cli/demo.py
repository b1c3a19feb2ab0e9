"""``ecg-stream demo``: the main job, end to end, on real Kafka and Redis.

Infrastructure up (reused when configured), a worker started, the seed protocol's test split
replayed, the outputs joined with the manifest, a summary printed, what it started stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.runs.demo import run_demo
from stream.runs.verdict import assess, summary_lines
from stream.settings import Settings

if TYPE_CHECKING:
    from producers.replay import Mode


@click.command("demo", epilog=settings_epilog("demo"))
@click.option("--mode", type=click.Choice(["beat", "continuous"]), default="beat",
              show_default=True)
@click.option("--rate", type=float, default=1000.0, show_default=True,
              help="Offered beats/s (0 = as fast as possible).")
@click.option("--patients", type=click.IntRange(1, 100_000), default=32, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("artifacts"), show_default=True, help="Manifest and worker log.")
@json_option("Machine-readable output.")
@click.pass_obj
def demo(settings: Settings, mode: Mode, rate: float, patients: int, workdir: Path,
         as_json: bool) -> None:
    """The main job: infrastructure, worker, replay of the test split, summary, clean-up.

    The summary opens with a verdict line. Exit code 0: every beat accounted for and the
    offered rate kept up; 1: a beat lost or the worker failed; 3: every beat accounted for,
    but the stream fell behind the offered rate (the verdict says how).

    \b
    Examples:
      ecg-stream demo
      ecg-stream demo --mode continuous --json
    """
    report = assess(run_demo(settings, workdir, mode, rate, patients, progress=not as_json))
    if as_json:
        emit(report, as_json=True)
    else:
        click.echo("\n".join(summary_lines(report)))
    # Beat mode must account for every beat; in continuous mode a missed beat is a
    # segmentation miss, reported as segmentation_recall, not a failure of the run.
    if report["exit_code"]:
        raise click.exceptions.Exit(report["exit_code"])
