"""``ecg-stream evaluate-stream``: read a run's outputs from Kafka, join them with its manifest."""

from __future__ import annotations

from pathlib import Path

import click

from stream.cli.base import emit, json_option
from stream.clients.probes import require_kafka
from stream.runs.outputs import evaluate_manifest
from stream.settings import Settings


@click.command("evaluate-stream")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("artifacts/replay-manifest.jsonl"), show_default=True)
@click.option("--idle-timeout", type=float, default=10.0, show_default=True,
              help="Stop reading after this many seconds without a new output record.")
@click.option("--tolerance", type=int, default=None,
              help="Continuous mode: onset match tolerance in samples (default 14).")
@json_option("Machine-readable output.")
@click.pass_obj
def evaluate_stream(settings: Settings, manifest: Path, idle_timeout: float,
                    tolerance: int | None, as_json: bool) -> None:
    """Join ecg.scores (and ecg.deadletter) with a replay manifest and report.

    Reports beats sent, scored, dead-lettered, missing and duplicated, segmentation recall and
    precision (continuous mode), precision/recall/F1 of the decisions, and latency.

    \b
    Example:
      ecg-stream replay --manifest run.jsonl && ecg-stream evaluate-stream --manifest run.jsonl
    """
    require_kafka(settings)
    emit(evaluate_manifest(settings, manifest, idle_timeout, tolerance=tolerance), as_json)
