"""``ecg-stream bench``: end-to-end throughput and latency through Kafka, Faust and Redis."""

from __future__ import annotations

import time
from pathlib import Path

import click

from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.runs.bench import run_bench
from stream.settings import Settings


@click.command("bench", epilog=settings_epilog("bench"))
@click.option("--workers", default="1,2", show_default=True,
              help="Worker counts to measure, comma-separated.")
@click.option("--rate", type=float, default=0.0, show_default=True,
              help="Offered beats/s (0 = as fast as the replay producer goes).")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Seconds of replay per configuration (at full speed the replay outruns "
              "the workers about tenfold, and draining takes minutes).")
@click.option("--patients", type=click.IntRange(1), default=256, show_default=True)
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run batch size 1 with the reference notebook's model size.")
@click.option("--hand-loop/--no-hand-loop", default=True, show_default=True,
              help="Also run the reference consumer (aiokafka, the same model and records, "
              "no Faust, no Redis) with the largest worker count: the framework's cost.")
@click.option("--prefill", is_flag=True,
              help="Replay first, then start the workers: measures draining a backlog.")
@click.option("--encoding", type=click.Choice(["json", "f32"]), default="json",
              show_default=True, help="Input message values: JSON or the float32 binary variant.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("artifacts/bench"), show_default=True)
@json_option("Machine-readable output.")
@click.pass_obj
def bench(settings: Settings, workers: str, rate: float, duration: float, patients: int,
          baseline: bool, hand_loop: bool, prefill: bool, encoding: str, workdir: Path,
          as_json: bool) -> None:
    """End-to-end benchmark: replay -> Kafka -> W Faust workers -> Kafka, with Redis.

    Each configuration gets its own topics (4 partitions), consumer group and Redis prefix.
    Reports sustained throughput, latency percentiles, lag, CPU, peak RSS, batch sizes,
    lost and dead-lettered beats, the ratio to the hand loop (the smallest honest consumer:
    aiokafka, the same model, no Faust, no Redis) and to the batch-1 reference-model
    baseline, both measured in the same run; writes bench.json and bench.png to --workdir.

    \b
    Examples:
      ecg-stream bench --json
      ecg-stream bench --workers 1 --rate 1000 --duration 60 --no-baseline
      ecg-stream bench --workers 2 --encoding f32 --prefill --no-baseline
    """
    counts = [int(w) for w in workers.split(",") if w.strip()]
    report = run_bench(settings, counts, rate, duration, patients, workdir, baseline, prefill,
                       encoding, hand_loop)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["finished"] = started
    emit(report, as_json)
