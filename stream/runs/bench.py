"""The end-to-end benchmark: W workers per configuration, a batch-1 baseline, one report."""

from __future__ import annotations

import json
import logging
import os
import platform
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from producers.manifest import read_manifest
from producers.runner import run_replay
from stream.clients.topics import ensure_topics
from stream.observe.procstat import Sampler, memory_mb
from stream.runs.bench_stats import (
    batch_size_list,
    batch_sizes,
    cpu_seconds_per_1000,
    cpu_share,
    latency_breakdown,
    latency_series,
    per_second,
    sustained_throughput,
)
from stream.runs.demo import offline_agreement
from stream.runs.evaluation import evaluate_run, latency_ms
from stream.runs.lifecycle import Lifecycle
from stream.runs.outputs import read_outputs
from stream.runs.processes import wait_group_stable
from stream.settings import Settings
from stream.wire.schemas import now_ms

if TYPE_CHECKING:
    from models.detector import Detector

log = logging.getLogger(__name__)
# latency_steady_ms leaves out beats sent in the replay's first 2 s: the workers' start-up
# (first fetches, first model and Redis calls, topic metadata) while the replay already runs.
STEADY_AFTER_MS = 2000


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform()}


def reference_checkpoint(directory: Path, threshold: float) -> Path:
    """A checkpoint of the reference notebook's size (random weights: speed only)."""
    from models.bench import reference_model  # local: torch, keeps --help fast
    from models.checkpoint import save_checkpoint  # local: torch loads only when used (fast --help)

    config = {"version": "reference-256-128-untrained", "runtime": "torch",
              "threshold": {"by_runtime": {"torch": threshold}}}
    return save_checkpoint(directory, reference_model(0), config)


def run_settings(settings: Settings, tag: str, **overrides: Any) -> Settings:
    """Settings with topics, group and Redis prefix of their own for one benchmark run."""
    token = f"bench.{tag}.{uuid.uuid4().hex[:6]}"
    data = settings.model_dump()
    data.update({f"topic_{t}": f"{token}.{t}" for t in
                 ("beats", "signal", "scores", "anomalies", "deadletter", "alerts", "events")})
    data.update(worker_group=f"{token}.workers", redis_key_prefix=token, **overrides)
    run = Settings(**data)
    ensure_topics(run)
    return run


def run_once(settings: Settings, workdir: Path, workers: int, rate: float, duration: float,
             patients: int, tag: str, prefill: bool = False, drain_s: float = 300.0,
             encoding: str = "json", reference: bool = False) -> dict[str, Any]:
    """One configuration: start workers, replay for ``duration`` s, measure, stop.

    With ``reference`` the processes are the reference consumer (``stream.reference``: no
    Faust, no Redis) instead of workers.

    With ``prefill`` the replay runs first and the workers start after it, so the run
    measures how fast they drain a backlog without the producer competing for the CPU
    (latency is then meaningless). Outputs are awaited at most ``drain_s`` after the replay;
    beats not scored by then are reported as ``backlog_at_end`` (lost only if drained).
    """
    manifest = workdir / f"{tag}-manifest.jsonl"
    replay: dict[str, Any] = {"mode": "beat", "rate": rate, "duration": duration, "loop": True,
              "patients": patients, "encoding": encoding}
    sent = run_replay(settings, "all", manifest, **replay) if prefill else None
    with Lifecycle() as life:  # the workers stop at the end, also on SIGINT/SIGTERM
        procs = [life.start_worker(settings, workdir / f"{tag}-worker-{i}.log", reference)
                 for i in range(workers)]
        wait_group_stable(settings, workers, procs)
        sampler = Sampler(settings, settings.topic_beats, [p.pid for p in procs])
        t0_ms = now_ms()
        sampler.start()
        replayed = sent or run_replay(settings, "all", manifest, **replay)
        header, records = read_manifest(manifest)
        scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                    idle_timeout=5.0, timeout=duration + drain_s)
        sampler.stop()
        peaks = [memory_mb(p.pid)[1] for p in procs if p.poll() is None]
        codes = life.stop_workers()
    report = evaluate_run(records, scores, len(dead))
    agreement = offline_agreement(settings, records, scores)
    # Missing beats count as lost only when the workers had consumed everything (no lag).
    backlog = bool(sampler.lag) and sampler.lag[-1][1] > 0
    return {
        "tag": tag, "workers": workers, "offered_beats_per_s": rate,
        "replay_beats_per_s": replayed["beats_per_s"], "beats_sent": report["beats_sent"],
        "beats_scored": report["beats_scored"],
        "lost": 0 if backlog else report["missing"],
        "backlog_at_end": report["missing"] if backlog else 0, "prefill": prefill,
        "duplicates": report["duplicates"], "dead_lettered": report["dead_lettered"],
        "throughput_beats_per_s": round(sustained_throughput(
            [s for s in scores if s.sent_ms >= header["started_ms"] - 1000]), 1),
        "latency_ms": report["latency_ms"], "beat_latency_ms": report["beat_latency_ms"],
        "frame_latency_ms": report["frame_latency_ms"],
        "latency_steady_ms": latency_ms([s for s in scores
                                         if s.sent_ms >= header["started_ms"] + STEADY_AFTER_MS]),
        "latency_legs_ms": latency_breakdown(scores),
        "batch_sizes": batch_sizes(scores),
        "worker_cpu": [round(cpu_share(v), 2) for v in sampler.procs.values()],
        "worker_cpu_s_per_1000_beats": round(cpu_seconds_per_1000(
            list(sampler.procs.values()), report["beats_scored"]), 3),
        "peak_rss_mb": round(max(peaks, default=0.0), 1), "worker_exit_codes": codes,
        "lag": sampler.lag, "f1": report["f1"], "offline_f1": agreement["offline_f1"],
        "f1_gap_points": round(100 * (agreement["offline_f1"] - report["f1"]), 3),
        "decisions_match_offline": agreement["decisions_match_offline"],
        "_scores": scores, "_t0_ms": t0_ms,
    }


def plot(results: list[dict[str, Any]], path: Path) -> Path:
    """Throughput, p99 latency and consumer lag over time for each configuration."""
    import matplotlib  # local: matplotlib, keeps --help fast

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # local: matplotlib loads only when used (fast --help)

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for result in results:
        label = result["tag"]
        series = per_second(result["_scores"], result["_t0_ms"])
        axes[0].plot([t for t, _ in series], [c for _, c in series], label=label)
        lat = latency_series(result["_scores"], result["_t0_ms"])
        axes[1].plot([t for t, _ in lat], [v for _, v in lat], label=label)
        axes[2].plot([t for t, _ in result["lag"]], [max(v, 0) for _, v in result["lag"]],
                     label=label)
    axes[0].set_ylabel("beats scored / s")
    axes[1].set_ylabel("p99 latency (ms)")
    axes[1].set_yscale("log")
    axes[2].set_ylabel("consumer lag (beats)")
    axes[2].set_xlabel("seconds since the workers were ready")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("ecg-stream bench: Kafka -> Faust worker -> Kafka, Redis statistics")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def model_cost(results: list[dict[str, Any]], detector: Detector) -> None:
    """Add the model's own CPU per 1,000 beats at each run's batch sizes, and the rest.

    ``model_cpu_s_per_1000_beats``: the detector alone on one torch thread, in batches of
    the sizes the run's workers made (measured here, after the runs, on a quiet machine);
    ``beyond_model_ms_per_beat``: the workers' CPU per beat minus it (Faust, Redis, decoding,
    records, Kafka clients: everything but the model).
    """
    from models.bench import cpu_seconds_per_1000  # local: torch, keeps --help fast

    for result in results:
        sizes = batch_size_list(result["_scores"])
        if not sizes:
            result["model_cpu_s_per_1000_beats"] = result["beyond_model_ms_per_beat"] = None
            continue
        model = round(cpu_seconds_per_1000(detector, sizes), 3)
        result["model_cpu_s_per_1000_beats"] = model
        result["beyond_model_ms_per_beat"] = round(
            result["worker_cpu_s_per_1000_beats"] - model, 3)


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_") and k != "lag"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def run_bench(settings: Settings, workers: list[int], rate: float, duration: float,
              patients: int, workdir: Path, baseline: bool, prefill: bool = False,
              encoding: str = "json", hand_loop: bool = True) -> dict[str, Any]:
    """Every configuration in turn, the hand loop, then the batch-1 baseline; one report.

    The hand loop is the reference consumer (:mod:`stream.reference`) with as many processes
    as the largest worker count, on the same replay: ``hand_loop_ratio`` is that worker
    count's pipeline throughput over it.
    """
    from models.detector import load_detector  # local: torch, keeps --help fast

    results = []
    hand: dict[str, Any] | None = None
    with Lifecycle() as life:  # the services it started stop at the end, also on a signal
        life.start_services(settings)
        for w in workers:
            run = run_settings(settings, f"w{w}", topic_partitions=4)
            results.append(run_once(run, workdir, w, rate, duration, patients, f"{w}-worker",
                                    prefill, encoding=encoding))
        if hand_loop:
            w = max(workers)
            run = run_settings(settings, "hand", topic_partitions=4)
            hand = run_once(run, workdir, w, rate, duration, patients, f"hand-loop-{w}",
                            prefill, encoding=encoding, reference=True)
        if baseline:
            threshold = load_detector(settings.checkpoint, runtime="torch").threshold
            ref = reference_checkpoint(workdir / "reference-checkpoint", threshold)
            run = run_settings(settings, "baseline", topic_partitions=4, batch_size=1,
                               checkpoint=ref, model_runtime="torch")
            results.append(run_once(run, workdir, 1, rate, duration, patients, "baseline",
                                    prefill, drain_s=10.0, encoding=encoding))
    measured = [*results, *([hand] if hand else [])]
    model_cost([*results[: len(workers)], *([hand] if hand else [])],
               load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=1))
    main = max(results[: len(workers)], key=lambda r: r["throughput_beats_per_s"])
    base = results[-1] if baseline else None
    same = results[workers.index(max(workers))]
    hand_beats = hand["throughput_beats_per_s"] if hand else None
    report = {
        "throughput_beats_per_s": main["throughput_beats_per_s"],
        "latency_ms": main["latency_ms"], "beat_latency_ms": main["beat_latency_ms"],
        "frame_latency_ms": main["frame_latency_ms"],
        "latency_steady_ms": main["latency_steady_ms"],
        "lost": sum(r["lost"] for r in measured),
        "dead_lettered": sum(r["dead_lettered"] for r in measured),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results[: len(workers)]),
        "baseline_throughput_beats_per_s": base["throughput_beats_per_s"] if base else None,
        "ratio": _ratio(main["throughput_beats_per_s"],
                        base["throughput_beats_per_s"] if base else None),
        "hand_loop_processes": max(workers) if hand else None,
        "hand_loop_throughput_beats_per_s": hand_beats,
        "hand_loop_cpu_s_per_1000_beats": hand["worker_cpu_s_per_1000_beats"] if hand else None,
        "hand_loop_ratio": _ratio(same["throughput_beats_per_s"], hand_beats),
        "beyond_model_ms_per_beat": same["beyond_model_ms_per_beat"],
        "hand_loop_beyond_model_ms_per_beat": hand["beyond_model_ms_per_beat"] if hand else None,
        "backlog_at_end": {r["tag"]: r["backlog_at_end"] for r in measured},
        "config": {"workers": workers, "offered_beats_per_s": rate, "duration_s": duration,
                   "prefill": prefill, "encoding": encoding,
                   "patients": patients, "partitions": 4, "batch_size": settings.batch_size,
                   "batch_within_ms": settings.batch_within_ms,
                   "torch_threads": settings.torch_threads,
                   "model_runtime": settings.model_runtime or "checkpoint default"},
        "machine": machine(),
        "runs": [_public(r) for r in results],
        "hand_loop": _public(hand) if hand else None,
    }
    report["plot"] = str(plot(measured, workdir / "bench.png"))
    (workdir / "bench.json").write_text(json.dumps(report, indent=2))
    return report
