"""``ecg-stream demo``: the main job, end to end, on real Kafka and Redis.

Infrastructure up (reused when configured), a worker started, the seed protocol's test split
replayed, the outputs joined with the manifest, a summary printed, what it started stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import numpy as np

from stream.settings import Settings

log = logging.getLogger(__name__)


def offline_decisions(settings: Settings, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's static-threshold decisions on source ``rows``, scored offline."""
    from models.data import load_ecg5000
    from models.detector import load_detector

    data = load_ecg5000(settings.data_dir, settings.cache_dir)
    beats = np.concatenate([data.train.beats, data.test.beats])[rows]
    labels = np.concatenate([data.train.labels, data.test.labels])[rows]
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads)
    return labels, detector.score(beats) > detector.threshold


def count_alerts(settings: Settings, scores: list[Any]) -> int:
    """Alerts the alert consumer's rule raises on this run's anomalous beats."""
    from stream.alerting import AlertTracker

    tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s)
    anomalies = sorted((s for s in scores if s.anomalous), key=lambda s: (s.published_ms, s.seq))
    return sum(tracker.observe(record) is not None for record in anomalies)


def run_demo(settings: Settings, workdir: Path, mode: str, rate: float, patients: int,
             progress: bool) -> dict[str, Any]:
    """Run the whole pipeline once; return the summary (the ``demo --json`` document)."""
    from producers.cli import run_replay
    from producers.manifest import read_manifest
    from stream.evaluate_cli import read_outputs
    from stream.evaluation import detection_metrics, evaluate_run
    from stream.infra import services
    from stream.workers import start_worker, stop_worker, wait_group_stable

    states = services.up(settings)
    manifest = workdir / "demo-manifest.jsonl"
    worker = start_worker(settings, workdir / "demo-worker.log")
    try:
        ready_s = wait_group_stable(settings, 1, [worker])
        sent = run_replay(settings, "seed-test", manifest, progress, mode=mode, rate=rate,
                          patients=patients)
        header, records = read_manifest(manifest)
        scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                    idle_timeout=15.0, timeout=600.0)
    finally:
        code = stop_worker(worker)
        services.down(settings, only_started=states)
    scores = [s for s in scores if s.mode == mode and s.sent_ms >= header["started_ms"] - 1000]
    report = evaluate_run(records, scores, len(dead))
    labels, offline = offline_decisions(settings, [r.source_row for r in records])
    report["offline_f1"] = detection_metrics(labels, offline)["f1"]
    report["anomalies"] = sum(s.anomalous for s in scores)
    report["alerts"] = count_alerts(settings, scores)
    report.update(worker_ready_s=round(ready_s, 2), worker_exit_code=code,
                  offered_rate_beats_per_s=rate, replay_beats_per_s=sent["beats_per_s"],
                  patients=patients, manifest=str(manifest))
    return report


@click.command("demo")
@click.option("--mode", type=click.Choice(["beat", "continuous"]), default="beat",
              show_default=True)
@click.option("--rate", type=float, default=1000.0, show_default=True,
              help="Offered beats/s (0 = as fast as possible).")
@click.option("--patients", type=click.IntRange(1, 100_000), default=32, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("artifacts"), show_default=True, help="Manifest and worker log.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def demo(settings: Settings, mode: str, rate: float, patients: int, workdir: Path,
         as_json: bool) -> None:
    r"""The main job: infrastructure, worker, replay of the test split, summary, clean-up.

    \b
    Examples:
      ecg-stream demo
      ecg-stream demo --mode continuous --json
    """
    from stream.cli import emit

    report = run_demo(settings, workdir, mode, rate, patients, progress=not as_json)
    emit(report, as_json)
    # Beat mode must account for every beat; in continuous mode a missed beat is a
    # segmentation miss, reported as segmentation_recall, not a failure of the run.
    lost = report["missing"] if mode == "beat" else 0
    if lost or report["worker_exit_code"] not in (0, None):
        raise click.exceptions.Exit(1)
