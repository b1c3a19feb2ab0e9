"""``ecg-stream replay``: the replay / load producer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from producers.plan import SplitName
from producers.replay import ReplayOptions
from producers.runner import run_replay
from stream.cli.base import emit, json_option
from stream.clients.probes import require_kafka
from stream.settings import Settings

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


@click.command("replay")
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
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("artifacts/replay-manifest.jsonl"), show_default=True)
@click.option("--progress/--no-progress", default=sys.stderr.isatty(), help="Progress bar.")
@json_option("Print the report as JSON.")
@click.pass_obj
def replay(settings: Settings, split: SplitName, manifest: Path, progress: bool, as_json: bool,
           **options: Any) -> None:
    """Replay ECG5000 into Kafka as simulated patients (also the load-testing tool).

    Beats are shuffled with --seed and dealt round-robin to --patients; the truth (patient,
    seq, onset, source row, label) goes to --manifest, never to the worker.

    \b
    Examples:
      ecg-stream replay --patients 64 --rate 1000
      ecg-stream replay --mode continuous --hrv 120-160 --frame-size 128
      ecg-stream replay --rate 5000 --duration 60 --loop --no-progress
      ecg-stream replay --encoding f32 --patients 256 --loop --duration 30
    """
    require_kafka(settings)
    report = run_replay(settings, split, manifest, progress, **options)
    emit(report, as_json)
