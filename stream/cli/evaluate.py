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


@click.command("evaluate-record")
@click.argument("record", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lead", default=None, help="The lead, by name (MLII) or 0-based index.")
@click.option("--resample", type=click.FloatRange(100, 1000), default=None,
              help="Resample to this rate first, Hz (annotations rescaled).")
@click.option("--units", "send_units", default=None,
              help="Convert to these units first (mV, uV, V, adc).")
@click.option("--invert", is_flag=True, help="Invert the lead first.")
@click.option("--fs", type=click.FloatRange(100, 1000), default=None, help="CSV: rate, Hz.")
@click.option("--csv-units", default="mV", show_default=True, help="CSV: the file's units.")
@click.option("--frame-seconds", type=click.FloatRange(0.004, 4.0), default=0.25,
              show_default=True, help="Seconds of signal per frame.")
@click.option("--learning", "learning_s", type=click.FloatRange(min=0), default=300.0,
              show_default=True, help="EC57 learning period left out of 'after_learning', s.")
@json_option("Machine-readable output.")
@click.pass_obj
def evaluate_record(settings: Settings, record: Path, lead: str | None,
                    resample: float | None, send_units: str | None, invert: bool,
                    fs: float | None, csv_units: str, frame_seconds: float, learning_s: float,
                    as_json: bool) -> None:
    """Segment and score a recording in-process (no Kafka) and score it against its annotations.

    The worker's segmenter and scorer, the record prepared as `replay --record` sends it;
    EC57 beat-by-beat: Se and +P within 150 ms, beats per class and how many were flagged,
    the whole record and after the learning period; CPU per beat.

    \b
    Example:
      ecg-stream evaluate-record ../shared/data/mitdb/100.hea --lead MLII --json
      ecg-stream evaluate-record ../shared/data/mitdb/100.hea --resample 250 --invert
    """
    from producers.record_replay import RecordReplayOptions  # local: keeps --help fast
    from producers.records import RecordError, read_recording
    from stream.runs.record_offline import evaluate_record_offline

    index: str | int | None = int(lead) if lead is not None and lead.isdigit() else lead
    try:
        recording = read_recording(record, index, fs=fs, units=csv_units)
    except RecordError as exc:
        raise click.UsageError(str(exc)) from exc
    opts = RecordReplayOptions(frame_s=frame_seconds, resample=resample, units=send_units,
                               invert=invert)
    emit(evaluate_record_offline(settings, recording, opts, learning_s), as_json)
