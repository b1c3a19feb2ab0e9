"""Worker memory under patient churn: RSS per minute while new patient ids keep arriving.

Starts ``--workers`` real workers (own topics, group and Redis prefix; Kafka and Redis must
be up, e.g. ``ecg-stream infra up``), then for ``--minutes`` sends ``--rate`` new patient ids
per second and samples each worker's RSS (/proc) every 5 s:

* ``--mode beat``: one beat per new patient id (ECG5000 beats from ``ECG_DATA_DIR``, else a
  synthetic beat);
* ``--mode continuous``: each new patient sends ``--frames`` 128-sample frames (140 Hz, about
  one beat each) and goes quiet: the segmenter pool's churn case (idle flush, then eviction).

Prints JSON: RSS (MiB) at each whole minute per worker, and the slope (MiB per minute, least
squares) of every sample after ``--settle`` minutes (default 1); also each worker's
segmenter gauges (patients, state bytes, evictions; from ``/metrics``) and how long its
``/health`` took to answer at each sample. Issue 13 item 11's target:
under 2 MiB per minute at 200 new ids/s. Example::

    ECG_DATA_DIR=../shared/data/ecg5000 .venv/bin/python tools/patient_churn.py \\
        --mode continuous --rate 200 --minutes 4 --workers 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from stream.observe.procstat import memory_mb
from stream.settings import Settings

SAMPLE_S = 5.0


def churn_settings(base: Settings) -> Settings:
    """Settings with topics, group and Redis prefix of this run's own."""
    from stream.clients.topics import ensure_topics

    token = f"churn.{uuid.uuid4().hex[:6]}"
    data = base.model_dump()
    for name, value in list(data.items()):
        if name.startswith("topic_") and isinstance(value, str):
            data[name] = f"{token}.{name[len('topic_'):]}"
    data.update(worker_group=f"{token}.workers", redis_key_prefix=token)
    run = Settings(**data)
    ensure_topics(run)
    return run


def _beats(settings: Settings) -> np.ndarray:
    if settings.data_dir is not None:
        from models.data import load_ecg5000

        return load_ecg5000(settings.data_dir, settings.cache_dir).test.beats[:500]
    t = np.arange(140)
    return (np.sin(2 * np.pi * t / 140) ** 15)[None, :].astype(np.float32)


def _messages(mode: str, index: int, beats: np.ndarray, frames: int) -> list[bytes]:
    """The records of new patient ``index``: one beat, or ``frames`` frames of its signal."""
    patient, sent = f"churn-{index}", time.time_ns() // 1_000_000
    if mode == "beat":
        samples = beats[index % len(beats)]
        return [json.dumps({"schema": 1, "patient": patient, "seq": 0,
                            "samples": np.round(samples, 4).tolist(), "sent_ms": sent}).encode()]
    signal = np.concatenate([beats[(index + k) % len(beats)] for k in range(frames + 1)])
    return [json.dumps({"schema": 1, "patient": patient, "frame_seq": k,
                        "start_sample": 128 * k, "fs": 140.0,
                        "samples": np.round(signal[128 * k:128 * (k + 1)], 4).tolist(),
                        "sent_ms": sent}).encode() for k in range(frames)]


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares MiB per minute of (seconds, MiB) points."""
    if len(points) < 2:
        return None
    t, rss = np.asarray(points).T
    return float(np.polyfit(t / 60.0, rss, 1)[0])


def run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Start the workers, churn for ``args.minutes``, stop; the RSS report."""
    from kafka import KafkaProducer

    from stream.clients.kafka import kafka_python_config
    from stream.runs.processes import start_worker, stop_worker, wait_group_stable

    logs = Path(tempfile.mkdtemp(prefix="churn-"))
    ports = [_free_port() for _ in range(args.workers)]
    procs = [start_worker(settings.model_copy(update={"worker_web_port": port}),
                          logs / f"worker-{i}.log", "warning") for i, port in enumerate(ports)]
    samples: dict[int, list[tuple[float, float]]] = {p.pid: [] for p in procs}
    gauges: dict[int, list[dict[str, float]]] = {p.pid: [] for p in procs}
    try:
        wait_group_stable(settings, len(procs), procs)
        topic = settings.topic_beats if args.mode == "beat" else settings.topic_signal
        producer = KafkaProducer(**kafka_python_config(settings), linger_ms=5)
        beats, begin, sent, next_sample = _beats(settings), time.monotonic(), 0, 0.0
        while (elapsed := time.monotonic() - begin) < args.minutes * 60:
            for _ in range(int(elapsed * args.rate) - sent):
                for value in _messages(args.mode, sent, beats, args.frames):
                    producer.send(topic, key=f"churn-{sent}".encode(), value=value)
                sent += 1
            if elapsed >= next_sample:
                for proc, port in zip(procs, ports, strict=True):
                    samples[proc.pid].append((elapsed, memory_mb(proc.pid)[0]))
                    gauges[proc.pid].append({"t": round(elapsed), **_scrape(port),
                                             "health_s": _health_seconds(port)})
                next_sample += SAMPLE_S
            time.sleep(0.01)
        producer.flush()
        producer.close()
        alive = [proc.poll() is None for proc in procs]
    finally:
        for proc in procs:
            stop_worker(proc)
    report = _report(args, samples, sent, alive, logs)
    for worker in report["workers"]:
        worker["metrics_by_minute"] = [g for g in gauges[worker["pid"]] if g["t"] % 60 < SAMPLE_S]
        worker["metrics_last"] = gauges[worker["pid"]][-1] if gauges[worker["pid"]] else None
        times = [g["health_s"] for g in gauges[worker["pid"]] if g["health_s"] is not None]
        worker["health_s_max"] = max(times) if times else None
        worker["health_unanswered"] = sum(g["health_s"] is None for g in gauges[worker["pid"]])
    return report


def _health_seconds(port: int) -> float | None:
    """Seconds /health took to answer (None: no answer within 10 s)."""
    import urllib.request

    began = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:  # noqa: S310
            answer.read()
    except OSError:
        return None
    return round(time.monotonic() - began, 3)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SCRAPED = {"ecg_records_in_total": "records_in", "ecg_segmenter_patients": "patients",
           "ecg_segmenter_state_bytes": "state_bytes", "ecg_segmenter_rate_bytes": "rate_bytes"}


def _scrape(port: int) -> dict[str, float]:
    """Records consumed, segmenter patients, bytes and evictions from the worker's /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
            text = answer.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SCRAPED:
                key = SCRAPED[sample.name]
                out[key] = out.get(key, 0.0) + sample.value
            elif sample.name == "ecg_segmenter_events_total" and \
                    sample.labels.get("reason") in ("evicted", "expired"):
                out[sample.labels["reason"]] = sample.value
    return out


def _report(args: argparse.Namespace, samples: dict[int, list[tuple[float, float]]],
            sent: int, alive: list[bool], logs: Path) -> dict[str, Any]:
    workers = []
    for pid, points in samples.items():
        minutes = {int(t // 60): round(rss, 1) for t, rss in points if t % 60 < SAMPLE_S}
        settled = [(t, rss) for t, rss in points if t >= args.settle * 60]
        slope = _slope(settled)
        ends = [round(points[0][1], 1), round(points[-1][1], 1)] if points else None
        workers.append({"pid": pid, "rss_mb_by_minute": minutes, "rss_mb_first_last": ends,
                        "slope_mb_per_min_after_settle": slope and round(slope, 2)})
    return {"mode": args.mode, "new_ids_per_s": args.rate, "minutes": args.minutes,
            "settle_minutes": args.settle, "patients_sent": sent, "workers_alive": alive,
            "workers": workers, "logs": str(logs)}


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("beat", "continuous"), default="continuous")
    parser.add_argument("--rate", type=float, default=200.0, help="new patient ids per second")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--settle", type=float, default=1.0, help="minutes left out of the slope")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=3, help="continuous: frames per patient")
    args = parser.parse_args(argv)
    report = run(churn_settings(Settings()), args)
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
