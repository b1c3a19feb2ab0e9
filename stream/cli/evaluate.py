"""``ecg-stream evaluate-stream``: read a run's outputs from Kafka, join them with its manifest."""

from __future__ import annotations

from pathlib import Path

import click

from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.clients.probes import require_kafka
from stream.runs.outputs import evaluate_manifest
from stream.settings import Settings


@click.command("evaluate-stream", epilog=settings_epilog("evaluate-stream"))
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


@click.command("evaluate-record", epilog=settings_epilog("evaluate-record"))
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
@click.option("--known-to-model", is_flag=True,
              help="Judge on the model's calibrated threshold, no patient learning period.")
@click.option("--swap-lead", default=None,
              help="Replace normal beats after the EC57 learning period by this lead's.")
@click.option("--swap-beats", type=click.IntRange(min=1), default=30, show_default=True,
              help="With --swap-lead: how many beats.")
@json_option("Machine-readable output.")
@click.pass_obj
def evaluate_record(settings: Settings, record: Path, lead: str | None,
                    resample: float | None, send_units: str | None, invert: bool,
                    fs: float | None, csv_units: str, frame_seconds: float, learning_s: float,
                    known_to_model: bool, swap_lead: str | None, swap_beats: int,
                    as_json: bool) -> None:
    """Segment and score a recording in-process (no Kafka) and score it against its annotations.

    The worker's segmenter and scorer, the record prepared as `replay --record` sends it;
    EC57 beat-by-beat: Se and +P within 150 ms, beats per class and how many were flagged,
    the whole record and after the learning period; CPU per beat.

    \b
    Example:
      ecg-stream evaluate-record ../shared/data/mitdb/100.hea --lead MLII --json
      ecg-stream evaluate-record ../shared/data/mitdb/100.hea --resample 250 --invert
      ecg-stream evaluate-record ../shared/data/mitdb/100.hea --lead MLII --swap-lead V5
    """
    from producers.record_replay import RecordReplayOptions  # local: keeps --help fast
    from producers.records import RecordError, read_recording
    from stream.runs.record_offline import evaluate_record_offline

    def lead_index(name: str | None) -> str | int | None:
        return int(name) if name is not None and name.isdigit() else name

    try:
        recording = read_recording(record, lead_index(lead), fs=fs, units=csv_units)
        other = (read_recording(record, lead_index(swap_lead), fs=fs, units=csv_units)
                 if swap_lead is not None else None)
    except RecordError as exc:
        raise click.UsageError(str(exc)) from exc
    opts = RecordReplayOptions(frame_s=frame_seconds, resample=resample, units=send_units,
                               invert=invert)
    swap = (other, swap_beats) if other is not None else None
    emit(evaluate_record_offline(settings, recording, opts, learning_s, known_to_model, swap),
         as_json)
