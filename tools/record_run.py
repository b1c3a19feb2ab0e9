"""A real recording through the whole pipeline: EC57, latency and worker memory, as a benchmark.

Starts ``--workers`` workers (default 1) with this run's own topics, group and Redis prefix
(Kafka and Redis must be up, e.g. ``ecg-stream infra up``), replays ``--record`` as
``--patients`` simulated patients at ``--speed`` times real time (``--loop --hours H``: H
hours of signal per patient), samples the workers' RSS every 5 s (the largest), then
evaluates the run against the record's annotations (``evaluate-stream``'s report: EC57
overall and after minute 5, latency, and the rate the score records were published at).
``--backlog`` sends everything first and starts the workers only then (minutes of backlog:
no beat may be cut short by the idle flush). Prints JSON. Examples::

    # latency at real time, 32 patients, frames of 0.25 s (the issue's definition)
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --patients 32 \\
        --speed 1 --minutes 4
    # two hours of signal through one worker
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --speed 30 \\
        --loop --hours 2
    # a backlog
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --patients 4 \\
        --speed 0 --backlog
    # drain rate of 2 workers (drained_beats_per_s: first to last score record published)
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --patients 64 \\
        --speed 0 --backlog --workers 2 --loop --hours 0.25
    # a variant of the record: resampled, in other units, inverted (annotations follow)
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --speed 40 \\
        --resample 125 --units adc --invert
    # a changed shape: 30 normal beats after minute 5 replaced by lead V5's (written as a
    # WFDB record of its own first); the report counts those flagged for morphology
    .venv/bin/python -m tools.record_run --record ../shared/data/mitdb/100.hea --speed 40 \\
        --swap-lead V5 --swap-beats 30
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from producers.record_replay import RecordReplayOptions, swap_beats
from producers.records import read_recording
from producers.runner import record_replay
from stream.clients.redis import sync_redis
from stream.observe.procstat import cpu_seconds, memory_mb
from stream.runs.outputs import evaluate_manifest, read_outputs
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.runs.record_offline import swapped_flagged
from stream.settings import Settings
from tools.patient_churn import _free_port, _health_seconds, _slope, churn_settings

LEARNING_S = 300.0
"""Swapped beats come after this much signal (EC57's learning period)."""

SAMPLE_S = 5.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Replay, sample the worker, evaluate; the report."""
    settings = churn_settings(Settings())
    port = _free_port()
    settings = settings.model_copy(update={"worker_web_port": port})
    logs = Path(tempfile.mkdtemp(prefix="record-run-"))
    manifest = logs / "manifest.jsonl"
    duration = args.hours * 3600 / args.speed if args.loop and args.speed > 0 else None
    if args.minutes is not None:
        duration = args.minutes * 60
    opts = RecordReplayOptions(patients=args.patients, speed=args.speed,
                               frame_s=args.frame_seconds, loop=args.loop, duration=duration,
                               resample=args.resample, units=args.units, invert=args.invert,
                               known_to_model=args.known_to_model)
    sent: dict[str, Any] = {}
    record, swapped = args.record, []
    if args.swap_lead:
        record, swapped = _swapped_record(args, logs)
        if args.resample:  # the R peaks as sent
            ratio = args.resample / read_recording(args.record, args.lead).fs
            swapped = [round(p * ratio) for p in swapped]

    def replay() -> None:
        sent.update(record_replay(settings, [record], args.lead, manifest, opts))

    samples: list[tuple[float, float]] = []
    health: list[float | None] = []
    procs: list[Any] = []
    try:
        if args.backlog:
            began = time.monotonic()
            replay()
            sent["backlog_send_s"] = round(time.monotonic() - began, 1)
        for i in range(args.workers):  # each its own web port (/health, /metrics)
            own = settings.model_copy(update={"worker_web_port": port if i == 0
                                              else _free_port()})
            procs.append(start_worker(own, logs / f"worker-{i}.log", "warning"))
        wait_group_stable(settings, args.workers, procs)
        cpu0 = [cpu_seconds(p.pid) for p in procs]  # start-up (imports, the model) not counted
        thread = threading.Thread(target=replay, daemon=True)
        if not args.backlog:
            thread.start()
        begin = time.monotonic()
        while thread.is_alive() or (args.backlog and time.monotonic() - begin < args.drain_s):
            samples.append((time.monotonic() - begin,
                            max(memory_mb(p.pid)[0] for p in procs)))
            health.append(_health_seconds(port))
            time.sleep(SAMPLE_S)
        report = evaluate_manifest(settings, manifest, idle_timeout=20.0, timeout=1800.0)
        alive = all(p.poll() is None for p in procs)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - sum(cpu0) if alive else None
        redis_bytes = _redis_bytes(settings)
        scores, _ = read_outputs(settings, 0, report["beats_scored"], 10.0, 300.0)
        if swapped:
            report["swapped_beats"] = swapped_flagged(swapped, scores, sent_fs(record, args))
    finally:
        for proc in procs:
            stop_worker(proc)
    overall = report["ec57"]["overall"]
    minutes = {int(t // 60): round(rss, 1) for t, rss in samples if t % 60 < SAMPLE_S}
    return {"lead": args.lead, "resample": args.resample, "units": args.units,
            "invert": args.invert, "workers": args.workers, "replay": sent,
            "worker_alive": alive, "drained_beats_per_s": _drained(scores),
            "rss_mb_by_minute": minutes,
            "worker_cpu_s": round(cpu, 2) if cpu is not None else None,
            "worker_cpu_ms_per_beat": (round(1000 * cpu / report["beats_scored"], 3)
                                       if cpu is not None and report["beats_scored"] else None),
            "redis_bytes": redis_bytes,
            "rss_slope_mb_per_min_after_2min": _slope([p for p in samples if p[0] >= 120]),
            "health_s_max": max((h for h in health if h is not None), default=None),
            "beats_scored": report["beats_scored"], "duplicates": report["duplicates"],
            "dead_lettered": report["dead_lettered"], "latency_ms": report["latency_ms"],
            "ec57_all": {k: overall["all"][k] for k in ("tp", "fn", "fp", "se", "ppv")},
            "ec57_after_learning": {k: overall["after_learning"][k]
                                    for k in ("tp", "fn", "fp", "se", "ppv")},
            "by_class_after_learning": {c: row for c, row in
                                        overall["after_learning"]["by_class"].items()
                                        if row["beats"]},
            "anomalies": report["anomalies"],
            **({"swapped_beats": report["swapped_beats"]} if swapped else {}),
            "logs": str(logs)}


def _drained(scores: list[Any]) -> float | None:
    """Beats published per second, from the first score record's publication to the last."""
    if len(scores) < 2:
        return None
    first = min(s.published_ms for s in scores)
    span = (max(s.published_ms for s in scores) - first) / 1000
    return round((len(scores) - 1) / span, 1) if span > 0 else None


def _swapped_record(args: argparse.Namespace, logs: Path) -> tuple[Path, list[int]]:
    """The record with ``--swap-beats`` beats of ``--swap-lead``, and the swapped R peaks.

    Written as a WFDB record in ``logs`` (the lead under its own name, annotations kept).
    """
    import wfdb  # noqa: PLC0415 - only for this variant

    main_lead = read_recording(args.record, args.lead)
    swap, peaks = swap_beats(main_lead, read_recording(args.record, args.swap_lead),
                             args.swap_beats, LEARNING_S)
    name = "swapped"
    wfdb.wrsamp(name, fs=swap.fs, units=[swap.units], sig_name=[args.lead],
                p_signal=swap.samples.reshape(-1, 1), fmt=["16"], write_dir=str(logs))
    wfdb.wrann(name, "atr", np.array([a.sample for a in swap.annotations]),
               symbol=[a.symbol for a in swap.annotations], write_dir=str(logs))
    return logs / f"{name}.hea", peaks


def _redis_bytes(settings: Settings) -> dict[str, int]:
    """Redis memory (``MEMORY USAGE``) of this run's keys, by kind (``stats``, ``normal``)."""
    client = sync_redis(settings)
    out: dict[str, int] = {}
    try:
        for key in client.scan_iter(match=f"{settings.redis_key_prefix}:*", count=1000):
            kind = key.decode().removeprefix(settings.redis_key_prefix + ":").split(":", 1)[0]
            out[kind] = out.get(kind, 0) + int(client.memory_usage(key) or 0)
            out[f"{kind}_keys"] = out.get(f"{kind}_keys", 0) + 1
    finally:
        client.close()
    return out


def sent_fs(record: Path, args: argparse.Namespace) -> float:
    """The rate the record goes out at (``--resample`` or its own)."""
    return float(args.resample or read_recording(record, args.lead).fs)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--lead", default="MLII")
    parser.add_argument("--patients", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--frame-seconds", type=float, default=0.25)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--hours", type=float, default=2.0, help="with --loop: signal hours")
    parser.add_argument("--minutes", type=float, default=None, help="wall minutes to send")
    parser.add_argument("--backlog", action="store_true")
    parser.add_argument("--resample", type=float, default=None, help="variant: resample to HZ")
    parser.add_argument("--units", default=None, help="variant: mV, uV, V or adc")
    parser.add_argument("--invert", action="store_true", help="variant: inverted")
    parser.add_argument("--known-to-model", action="store_true",
                        help="frames declare the patients known: no adaptation (its cost)")
    parser.add_argument("--swap-lead", default=None,
                        help="variant: normal beats after minute 5 replaced by this lead's")
    parser.add_argument("--swap-beats", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (one consumer group; RSS: the largest one's)")
    parser.add_argument("--drain-s", type=float, default=120.0,
                        help="with --backlog: seconds the worker gets to drain")
    args = parser.parse_args(argv)
    json.dump(run(args), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
