"""Run one replay into Kafka: load the data, create the topics, send, report."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Protocol

import kafka
import numpy as np
from tqdm import tqdm

from models.data import load_ecg5000
from producers.gateway import Encoding, SignalSender
from producers.manifest import ManifestWriter
from producers.plan import SplitName, split_rows
from producers.record_replay import RecordReplayer, RecordReplayOptions
from producers.records import read_recording
from producers.replay import ProducerLike, Replayer, ReplayOptions
from stream.clients.kafka import kafka_python_config
from stream.clients.topics import ensure_topics
from stream.settings import Settings


class ClosableProducer(ProducerLike, Protocol):
    """The producer :func:`replay` makes, hands to the replayer and closes at the end."""

    def close(self, timeout: float | None = None) -> object:
        """Send what is queued (at most ``timeout`` s) and release the connections."""


def make_producer(settings: Settings) -> ClosableProducer:
    """A kafka-python producer tuned for throughput: batching, linger, acks=all.

    No compression by default: on one host it only costs CPU (gzip made the replay 5.6x
    slower here, lz4 about 2-6 % more CPU per beat; docs/performance.md).
    """
    compression = settings.producer_compression
    return kafka.KafkaProducer(**kafka_python_config(settings), acks="all", linger_ms=10,
                               batch_size=256 * 1024, max_request_size=8 * 1024 * 1024,
                               compression_type=None if compression == "none" else compression)


def run_replay(settings: Settings, split: SplitName, manifest: Path, progress: bool = False,
               **options: Any) -> dict[str, Any]:
    """Load the data, create topics, replay, and return the report as plain data.

    ``options`` are :class:`ReplayOptions` fields; the ones left out take its defaults.
    """
    return replay(settings, split, manifest, ReplayOptions(**options), progress)


def replay(settings: Settings, split: SplitName, manifest: Path, opts: ReplayOptions,
           progress: bool = False) -> dict[str, Any]:
    """:func:`run_replay` with the options already built."""
    data = load_ecg5000(settings.data_dir, settings.cache_dir)
    beats = np.concatenate([data.train.beats, data.test.beats])
    labels = np.concatenate([data.train.labels, data.test.labels])
    rows = split_rows(labels, split)
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


def record_replay(settings: Settings, records: list[Path], lead: str | int | None,
                  manifest: Path, opts: RecordReplayOptions, progress: bool = False,
                  fs: float | None = None, units: str | None = None) -> dict[str, Any]:
    """Read the recordings, create topics, replay them as frames; the report as plain data.

    ``fs`` and ``units`` are for CSV files (a CSV has neither in it).
    """
    recordings = [read_recording(path, lead, fs=fs, units=units) for path in records]
    ensure_topics(settings)
    producer = make_producer(settings)
    header = {"records": [r.source for r in recordings], "lead": [r.lead for r in recordings],
              "fs": [r.fs for r in recordings], "units": [r.units for r in recordings],
              "mode": "continuous", "patients": opts.patients, "speed": opts.speed,
              "frame_s": opts.frame_s, "resample": opts.resample, "send_units": opts.units,
              "invert": opts.invert, "encoding": opts.encoding}
    total = None if opts.loop else opts.patients * max(r.duration_s for r in recordings)
    bar = tqdm(total=total, unit="s", disable=not progress, desc="replay records")
    with ManifestWriter(manifest, header) as writer, bar:
        try:
            result = RecordReplayer(producer, settings.topic_signal, recordings, opts, writer,
                                    bar).run()
        finally:
            producer.close(timeout=30)
    return {"mode": "continuous", "records": header["records"], "lead": header["lead"],
            "patients": opts.patients, "speed": opts.speed, "frames_sent": result.frames_sent,
            "samples_sent": result.samples_sent, "samples_skipped": result.samples_skipped,
            "beats_sent": result.beats_sent, "laps": result.laps,
            "seconds": round(result.seconds, 3), "manifest": str(manifest)}


def stdin_replay(settings: Settings, stream: IO[str], patient: str, fs: float, column: int = 0,
                 frame_size: int | None = None, encoding: Encoding = "json",
                 units: str | None = None) -> dict[str, Any]:
    """Send samples read from ``stream`` (CSV lines; ``column`` holds the lead) as they come.

    ``units`` (mV, uV, V, adc) is stated in each frame; None: not stated.

    Each line is one sample time; a cell that is empty, ``nan`` or not a number is an invalid
    sample (a gap). Lines starting with ``#`` and a first line that is not numeric (a header)
    are skipped. Frames go out as soon as they are full, so a live pipe is sent in real time.
    """
    ensure_topics(settings)
    producer = make_producer(settings)
    sender = SignalSender(producer, settings.topic_signal, patient, fs, frame_size, encoding,
                          units=units)
    lines = 0
    try:
        for number, line in enumerate(stream):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            cells = text.split(",")
            try:
                value = float(cells[column]) if column < len(cells) and cells[column] else np.nan
            except ValueError:
                if number == 0:
                    continue  # a header row
                value = np.nan
            sender.send([value])
            lines += 1
        sender.close()
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=30)
    return {"mode": "continuous", "patient": patient, "fs": fs, "lines": lines,
            "frames_sent": sender.frames_sent, "samples_sent": sender.samples_sent,
            "samples_skipped": sender.samples_skipped}
