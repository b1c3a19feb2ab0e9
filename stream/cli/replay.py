"""``ecg-stream replay``: the replay / load producer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from producers.plan import SplitName
from producers.record_replay import RecordReplayOptions
from producers.records import RecordError, normalize_units
from producers.replay import ReplayOptions
from producers.runner import record_replay, run_replay, stdin_replay
from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.clients.probes import require_kafka
from stream.settings import Settings
from stream.wire.schemas import FRAME_UNITS

DEFAULTS = ReplayOptions()


def _hrv_text(hrv: tuple[int, int] | None) -> str:
    """The ``--hrv`` spelling of a range: ``LOW-HIGH``, or ``off``."""
    return "off" if hrv is None else f"{hrv[0]}-{hrv[1]}"


def _hrv(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value in (None, "", "off"):
        return None
    try:
        low, high = (int(part) for part in value.split("-"))
    except ValueError as exc:
        msg = "expected LOW-HIGH in samples, e.g. 120-160"
        raise click.BadParameter(msg) from exc
    if not 16 <= low <= high <= 1024:
        msg = "need 16 <= LOW <= HIGH <= 1024"
        raise click.BadParameter(msg)
    return low, high


@click.command("replay", epilog=settings_epilog("replay"))
@click.option("--mode", type=click.Choice(["beat", "continuous"]), default=DEFAULTS.mode,
              show_default=True, help="One beat per message, or continuous frames per patient.")
@click.option("--split", type=click.Choice(["seed-test", "ucr-test", "all"]), default="seed-test",
              show_default=True, help="seed-test: the seed protocol's 145 test normals + 2081 "
              "anomalies (never seen in training by the shipped checkpoint).")
@click.option("--rate", type=float, default=DEFAULTS.rate, show_default=True,
              help="Offered beats/s overall (0 = as fast as possible).")
@click.option("--patients", type=click.IntRange(1, 100_000), default=DEFAULTS.patients,
              show_default=True)
@click.option("--duration", type=float, default=DEFAULTS.duration,
              help="Stop after this many seconds.")
@click.option("--loop", is_flag=True, default=DEFAULTS.loop,
              help="Replay the split again and again (with --duration).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Shuffle seed.")
@click.option("--frame-size", type=click.IntRange(1, 4096), default=DEFAULTS.frame_size,
              show_default=True, help="Continuous mode: samples per frame.")
@click.option("--hrv", callback=_hrv, default=_hrv_text(DEFAULTS.hrv), show_default=True,
              help="Continuous mode: resample each beat to a random length LOW-HIGH, or 'off'.")
@click.option("--encoding", type=click.Choice(["json", "f32"]), default=DEFAULTS.encoding,
              show_default=True, help="Message values: JSON, or the float32 binary variant "
              "(docs/pipeline.md; 37 % of the bytes, cheaper to produce and decode).")
@click.option("--record", "records", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay a real recording instead of ECG5000: WFDB (.hea), EDF/EDF+ (.edf) or "
              "CSV (.csv, a column per lead, needs --fs); repeat for several records.")
@click.option("--lead", default=None, help="Records: the lead, by name (MLII) or 0-based index; "
              "default the first.")
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Records: times real time (0 = as fast as possible).")
@click.option("--frame-seconds", type=click.FloatRange(0.004, 4.0), default=0.25,
              show_default=True, help="Records and --stdin: seconds of signal per frame.")
@click.option("--offset", "offset_s", type=click.FloatRange(min=0), default=None,
              help="Records: seconds between the starts of the patients playing one record "
              "(default: the record's length / patients).")
@click.option("--resample", type=click.FloatRange(100, 1000), default=None,
              help="Records: send at this rate, Hz (annotations rescaled).")
@click.option("--units", "send_units", default=None,
              help="Records: send in these units (mV, uV, V, adc); default the record's. "
              "--stdin: what the samples are (stated in each frame; default not stated).")
@click.option("--invert", is_flag=True, help="Records: send the lead inverted.")
@click.option("--fs", type=click.FloatRange(100, 1000), default=None,
              help="CSV records and --stdin: sampling rate, Hz.")
@click.option("--csv-units", default="mV", show_default=True, help="CSV records: their units.")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read one patient's samples from standard input (CSV lines, one sample time "
              "per line) and send them as they come; needs --fs and --patient-id.")
@click.option("--patient-id", default=None, help="--stdin: the patient's id (the Kafka key).")
@click.option("--column", type=click.IntRange(min=0), default=0, show_default=True,
              help="--stdin: 0-based column of the lead.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("artifacts/replay-manifest.jsonl"), show_default=True)
@click.option("--progress/--no-progress", default=sys.stderr.isatty(), help="Progress bar.")
@json_option("Print the report as JSON.")
@click.pass_obj
def replay(settings: Settings, split: SplitName, manifest: Path, progress: bool, as_json: bool,
           records: tuple[Path, ...], lead: str | None, speed: float, frame_seconds: float,
           offset_s: float | None, resample: float | None, send_units: str | None,
           invert: bool, fs: float | None, csv_units: str, from_stdin: bool,
           patient_id: str | None, column: int, **options: Any) -> None:
    """Replay ECG5000 or real recordings into Kafka as simulated patients (also the load tool).

    ECG5000: beats are shuffled with --seed and dealt round-robin to --patients; the truth
    (patient, seq, onset, source row, label) goes to --manifest, never to the worker.
    Records (--record): each patient plays a record's lead as continuous frames at its
    native rate (units from the record), --speed times real time; the record's reference
    annotations (WFDB .atr) go to --manifest. --stdin: one live patient from a pipe.

    \b
    Examples:
      ecg-stream replay --patients 64 --rate 1000
      ecg-stream replay --mode continuous --hrv 120-160 --frame-size 128
      ecg-stream replay --rate 5000 --duration 60 --loop --no-progress
      ecg-stream replay --encoding f32 --patients 256 --loop --duration 30
      ecg-stream replay --record ../shared/data/mitdb/100.hea --lead MLII --speed 20
      ecg-stream replay --record rec.edf --lead 0 --patients 32 --loop --duration 7200
      my-device | ecg-stream replay --stdin --fs 250 --patient-id bed-12
    """
    require_kafka(settings)
    if from_stdin:
        if fs is None or not patient_id:
            msg = "--stdin needs --fs and --patient-id"
            raise click.UsageError(msg)
        frame = max(1, round(frame_seconds * fs))
        units = None if send_units is None else normalize_units(send_units)
        if units is not None and units not in FRAME_UNITS:
            msg = f"--units {send_units!r}: expected one of {', '.join(FRAME_UNITS)}"
            raise click.UsageError(msg)
        emit(stdin_replay(settings, sys.stdin, patient_id, fs, column, frame,
                          options["encoding"], units), as_json)
        return
    if records:
        index: str | int | None = int(lead) if lead is not None and lead.isdigit() else lead
        opts = RecordReplayOptions(patients=options["patients"], speed=speed,
                                   frame_s=frame_seconds, offset_s=offset_s,
                                   loop=options["loop"], duration=options["duration"],
                                   encoding=options["encoding"], resample=resample,
                                   units=send_units, invert=invert)
        try:
            report = record_replay(settings, list(records), index, manifest, opts, progress,
                                   fs=fs, units=csv_units)
        except RecordError as exc:
            raise click.UsageError(str(exc)) from exc
        emit(report, as_json)
        return
    report = run_replay(settings, split, manifest, progress, **options)
    emit(report, as_json)
