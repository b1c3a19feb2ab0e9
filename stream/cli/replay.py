"""``ecg-stream replay``: the replay / load producer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from stream.settings import Settings


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


def make_producer(settings: Settings) -> Any:
    """A kafka-python producer tuned for throughput: batching, linger, acks=all.

    No compression by default: on one host it only costs CPU (gzip made the replay 5.6x
    slower here, lz4 about 2-6 % more CPU per beat; docs/performance.md).
    """
    from kafka import KafkaProducer

    from stream.clients.kafka import kafka_python_config

    compression = settings.producer_compression
    return KafkaProducer(**kafka_python_config(settings), acks="all", linger_ms=10,
                         batch_size=256 * 1024, max_request_size=8 * 1024 * 1024,
                         compression_type=None if compression == "none" else compression)


@click.command("replay")
@click.option("--mode", type=click.Choice(["beat", "continuous"]), default="beat",
              show_default=True, help="One beat per message, or continuous frames per patient.")
@click.option("--split", type=click.Choice(["seed-test", "ucr-test", "all"]), default="seed-test",
              show_default=True, help="seed-test: the seed protocol's 145 test normals + 2081 "
              "anomalies (never seen in training by the shipped checkpoint).")
@click.option("--rate", type=float, default=0.0, show_default=True,
              help="Offered beats/s overall (0 = as fast as possible).")
@click.option("--patients", type=click.IntRange(1, 100_000), default=16, show_default=True)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--loop", is_flag=True, help="Replay the split again and again (with --duration).")
@click.option("--seed", type=int, default=0, show_default=True, help="Shuffle seed.")
@click.option("--frame-size", type=click.IntRange(1, 4096), default=128, show_default=True,
              help="Continuous mode: samples per frame.")
@click.option("--hrv", callback=_hrv, default="120-160", show_default=True,
              help="Continuous mode: resample each beat to a random length LOW-HIGH, or 'off'.")
@click.option("--encoding", type=click.Choice(["json", "f32"]), default="json",
              show_default=True, help="Message values: JSON, or the float32 binary variant "
              "(docs/pipeline.md; 37 % of the bytes, cheaper to produce and decode).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("artifacts/replay-manifest.jsonl"), show_default=True)
@click.option("--progress/--no-progress", default=sys.stderr.isatty(), help="Progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def replay(settings: Settings, split: str, manifest: Path, progress: bool, as_json: bool,
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
    from stream.cli.base import emit
    from stream.clients.probes import require_kafka

    require_kafka(settings)
    report = run_replay(settings, split, manifest, progress, **options)
    emit(report, as_json)


def run_replay(settings: Settings, split: str, manifest: Path, progress: bool = False,
               **options: Any) -> dict[str, Any]:
    """Load the data, create topics, replay, and return the report as plain data."""
    from tqdm import tqdm

    from models.data import load_ecg5000
    from producers.manifest import ManifestWriter
    from producers.plan import split_rows
    from producers.replay import Replayer, ReplayOptions

    data = load_ecg5000(settings.data_dir, settings.cache_dir)
    import numpy as np

    beats = np.concatenate([data.train.beats, data.test.beats])
    labels = np.concatenate([data.train.labels, data.test.labels])
    rows = split_rows(labels, split)  # type: ignore[arg-type]
    opts = ReplayOptions(**options)
    from stream.clients.topics import ensure_topics

    ensure_topics(settings)
    producer = make_producer(settings)
    total = None if opts.loop else len(rows)
    header = {"split": split, "mode": opts.mode, "patients": opts.patients, "seed": opts.seed,
              "hrv": opts.hrv, "frame_size": opts.frame_size, "encoding": opts.encoding}
    bar = tqdm(total=total, unit="beat", disable=not progress, desc=f"replay {opts.mode}")
    with ManifestWriter(manifest, header) as writer, bar:
        try:
            result = Replayer(producer, settings.topic_beats, settings.topic_signal, beats,
                              labels, rows, opts, writer, bar).run()
        finally:
            producer.close(timeout=30)
    return {"mode": opts.mode, "encoding": opts.encoding, "split": split,
            "patients": opts.patients,
            "beats_sent": result.beats_sent, "frames_sent": result.frames_sent,
            "laps": result.laps, "seconds": round(result.seconds, 3),
            "beats_per_s": round(result.beats_per_s, 1), "manifest": str(manifest)}
