"""Quality of continuous-mode segmentation on ECG5000: stitch, frame, segment, match onsets.

Usage::

    python -m tools.segment_eval learn --data-dir DIR --out FILE
    python -m tools.segment_eval learn-cut --data-dir DIR --out FILE
    python -m tools.segment_eval evaluate --data-dir DIR [--frame-size 64] [--no-hrv]
    python -m tools.segment_eval pipeline --data-dir DIR [--split seed-test] [--seed 0] \
        [--join level|raw]

``learn-cut`` measures where ECG5000 beats start relative to the R peaks the QRS detector
finds (stitched TRAIN normal beats, with HRV) and writes that convention to ``--out``
(shipped: ``stream/segmentation/cut.json``). ``learn`` writes the template detector's
parameters to ``--out`` with their provenance (the ECG5000 TRAIN files' sha256, the labels
used, the time); the shipped ones are ``stream/segmentation/fiducial.json`` (pass that path
to regenerate them in a checkout).

``evaluate`` prints JSON: onset recall and precision within ``--tolerance`` samples, the
onset error, how far the re-cut beats are from the originals, and the F1 of a 1-nearest-
neighbour detector (threshold fitted on TRAIN only) on original versus re-cut test beats.
``pipeline`` mirrors the worker: ``Replayer`` messages, decoded ``FrameMessage``s,
``SegmenterPool``, the LSTM checkpoint and ``evaluate_run``; it compares detection F1 in
continuous mode with beat mode (the detector on the original rows of the same manifest).
``--join raw`` replays the old stitching with a level step at every beat join (the default,
``level``, is step-free; see :func:`producers.stitch.stitch`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

import producers.stitch
from models.data import Ecg5000, load_ecg5000
from models.metrics import confusion, nearest_neighbour_distance
from models.preprocess import BEAT_LENGTH
from producers.stitch import DEFAULT_HRV, JOIN_LEVEL, JOINS, frames, stitch
from stream.segmentation.beatfit import learn_templates
from stream.segmentation.config import SegmenterConfig
from stream.segmentation.cut import learn_cut, save_cut
from stream.segmentation.fiducial import learn_fiducial, save_fiducial
from stream.segmentation.quality import DEFAULT_ONSET_TOLERANCE, match_onsets
from stream.segmentation.segmenter import Beat, PatientSegmenter

if TYPE_CHECKING:
    from collections.abc import Iterator


@functools.lru_cache(maxsize=4)
def _ecg5000(data_dir: Path) -> Ecg5000:
    # With a data directory load_ecg5000 neither reads nor writes the cache directory.
    return load_ecg5000(data_dir, data_dir, allow_download=False)


def load_split(data_dir: Path, split: str) -> tuple[NDArray[np.float32], NDArray[np.int8]]:
    """Beats (float32, ``(n, 140)``) and labels (int8, ``(n,)``) of ECG5000_<split>.

    Read once per directory with :func:`models.data.load_ecg5000` (checksums recorded, a
    mismatch warned about); do not modify the returned arrays.
    """
    data = _ecg5000(Path(data_dir))
    part = data.train if split == "TRAIN" else data.test
    return part.beats, part.labels


def learn_provenance(data_dir: Path) -> dict[str, object]:
    """Where learned parameters come from: the TRAIN files read, their sha256, the time."""
    data = _ecg5000(Path(data_dir))
    return {
        "tool": "tools/segment_eval.py learn",
        "data": {name: digest for name, digest in sorted(data.checksums.items())
                 if "TRAIN" in name},
        "labels_used": "filter, offset, height: class 1 (normal) TRAIN beats; "
                       "beat_templates: the means of each TRAIN class",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def segment_signal(signal: NDArray, frame_size: int, fs: float = 140.0) -> list[Beat]:
    """Run a fresh segmenter over one patient's frames in order, then finish."""
    segmenter = PatientSegmenter(SegmenterConfig())
    beats: list[Beat] = []
    for seq, start, samples in frames(signal, frame_size):
        beats += segmenter.push(seq, start, fs, samples).beats
    return beats + segmenter.finish().beats


@dataclass
class _Run:
    onsets_true: list[NDArray[np.int64]]
    onsets_found: list[NDArray[np.int64]]
    recut: list[NDArray[np.float32]]
    index_true: list[NDArray[np.intp]]
    index_found: list[NDArray[np.intp]]
    errors: list[NDArray[np.int64]]


def _simulate(beats: NDArray, patients: int, frame_size: int, hrv: tuple[int, int] | None,
              seed: int, tolerance: int) -> _Run:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(beats))
    run = _Run([], [], [], [], [], [])
    for chunk in np.array_split(order, patients):
        stitched = stitch(beats[chunk], rng, hrv)
        found = segment_signal(stitched.signal, frame_size)
        onsets = np.asarray([b.onset_sample for b in found], dtype=np.int64)
        pairs = match_onsets(stitched.onsets, onsets, tolerance)
        tru = np.asarray([i for i, _ in pairs], dtype=np.intp)
        det = np.asarray([j for _, j in pairs], dtype=np.intp)
        run.onsets_true.append(stitched.onsets)
        run.onsets_found.append(onsets)
        recut = [found[i].samples for i in det]
        run.recut.append(np.stack(recut) if recut else np.empty((0, BEAT_LENGTH), dtype=np.float32))
        run.index_true.append(chunk[tru])
        run.index_found.append(det)
        run.errors.append(onsets[det] - stitched.onsets[tru])
    return run


def nn_scores(train_normals: NDArray, beats: NDArray) -> NDArray[np.float64]:
    """Distance of each beat to its nearest training normal (an anomaly score)."""
    return nearest_neighbour_distance(train_normals, beats, dtype=np.float64)


def _f1(scores: NDArray, anomalous: NDArray[np.bool_], threshold: float) -> float:
    return confusion(anomalous, scores > threshold).f1


def _train_threshold(train: NDArray, labels: NDArray) -> float:
    normals = train[labels == 1]
    scores = nn_scores(normals, train)
    # A normal's own distance is 0: leave it out, take its nearest other normal.
    scores[labels == 1] = nearest_neighbour_distance(normals, normals, rank=1, dtype=np.float64)
    candidates = np.unique(scores)
    return float(max(candidates, key=lambda t: _f1(scores, labels != 1, t)))


def evaluate(data_dir: Path, patients: int = 4, frame_size: int = 64,
             hrv: tuple[int, int] | None = DEFAULT_HRV, seed: int = 0,
             tolerance: int = DEFAULT_ONSET_TOLERANCE, limit: int | None = None
             ) -> dict[str, object]:
    """Segment the TEST split replayed as ``patients`` signals; return the figures."""
    test, labels = load_split(data_dir, "TEST")
    if limit is not None:
        keep = np.random.default_rng(seed + 1).permutation(len(test))[:limit]
        test, labels = test[keep], labels[keep]
    run = _simulate(test, patients, frame_size, hrv, seed, tolerance)
    n_true = sum(o.size for o in run.onsets_true)
    n_found = sum(o.size for o in run.onsets_found)
    n_match = sum(i.size for i in run.index_true)
    index = np.concatenate(run.index_true)
    recut = np.concatenate(run.recut).astype(np.float64)
    errors = np.concatenate(run.errors) if n_match else np.zeros(1, dtype=np.int64)
    mae = np.abs(recut - test[index]).mean(axis=1)
    return {"beats": n_true, "detected": n_found, "matched": n_match,
            "recall": n_match / n_true, "precision": n_match / max(1, n_found),
            "tolerance_samples": tolerance, "frame_size": frame_size, "hrv": hrv,
            "patients": patients, "seed": seed,
            "shape_mae_mean": float(mae.mean()), "shape_mae_p95": float(np.percentile(mae, 95)),
            "shape_mae_by_class": {int(c): float(mae[labels[index] == c].mean())
                                   for c in np.unique(labels[index])},
            "_recut": recut, "_index": index, "_labels": labels, "_test": test,
            "_errors": errors}


def detection_f1(data_dir: Path, figures: dict[str, object]) -> dict[str, float]:
    """F1 of the 1-NN detector on original vs re-cut beats (missed beats count as normal)."""
    train, train_labels = load_split(data_dir, "TRAIN")
    threshold = _train_threshold(train.astype(np.float64), train_labels)
    normals = train[train_labels == 1].astype(np.float64)
    test, labels = figures["_test"], figures["_labels"]
    anomalous = np.asarray(labels) != 1
    original = nn_scores(normals, np.asarray(test, dtype=np.float64))
    recut = np.full(original.shape, -np.inf)
    recut[figures["_index"]] = nn_scores(normals, figures["_recut"])
    return {"nn_threshold": threshold, "f1_original": _f1(original, anomalous, threshold),
            "f1_recut": _f1(recut, anomalous, threshold)}


class _ListProducer:
    """A stand-in Kafka producer that keeps every message value in memory."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> None:
        self.values.append(value)

    def flush(self, timeout: float | None = None) -> None:
        return None


@contextlib.contextmanager
def _stitch_join(join: str) -> Iterator[None]:
    """Make ``producers.stitch.stitch`` (as the replay imports it) use ``join`` meanwhile."""
    original = producers.stitch.stitch
    producers.stitch.stitch = functools.partial(original, join=join)  # type: ignore[assignment]
    try:
        yield
    finally:
        producers.stitch.stitch = original  # type: ignore[assignment]


def replay_frames(data_dir: Path, split: str, patients: int, seed: int,
                  hrv: tuple[int, int] | None, frame_size: int = 128, join: str = JOIN_LEVEL
                  ) -> tuple[list[bytes], list[Any], NDArray[np.float32]]:
    """Run the real ``Replayer`` in continuous mode into memory, beats joined by ``join``.

    Returns:
        The frame message values in send order, the manifest records, and all beats
        (TRAIN then TEST, float32 ``(5000, 140)``) that ``source_row`` indexes.
    """
    from producers.manifest import ManifestWriter, read_manifest
    from producers.plan import split_rows
    from producers.replay import Replayer, ReplayOptions

    train, train_labels = load_split(data_dir, "TRAIN")
    test, test_labels = load_split(data_dir, "TEST")
    beats, labels = np.concatenate([train, test]), np.concatenate([train_labels, test_labels])
    rows = split_rows(labels, split)  # type: ignore[arg-type]
    options = ReplayOptions(mode="continuous", patients=patients, seed=seed, hrv=hrv,
                            frame_size=frame_size)
    producer = _ListProducer()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.jsonl"
        with ManifestWriter(path) as writer, _stitch_join(join):
            Replayer(producer, "beats", "signal", beats, labels, rows, options, writer).run()
        _, records = read_manifest(path)
    return producer.values, records, beats


def segment_messages(values: list[bytes]) -> list[Any]:
    """Decode frames and cut beats as the worker does, then finish every patient.

    Returns:
        ``stream.worker.scoring.PendingBeat`` list in the order the pool produced them.
    """
    from stream.beats import PendingBeat
    from stream.segmentation.pool import SegmenterPool
    from stream.settings import Settings
    from stream.wire.schemas import FrameMessage

    pool = SegmenterPool(Settings())
    pending: list[PendingBeat] = []
    for value in values:
        pending += pool.push(FrameMessage.model_validate_json(value), 0)[0]
    return pending + pool.flush_idle(2**62)  # every patient idle: end of stream


def pipeline(data_dir: Path, split: str = "seed-test", patients: int = 32, seed: int = 0,
             hrv: tuple[int, int] | None = DEFAULT_HRV, checkpoint: Path | None = None,
             frame_size: int = 128, join: str = JOIN_LEVEL) -> dict[str, Any]:
    """Segmentation and LSTM detection figures of one in-memory continuous replay."""
    from models.detector import load_detector
    from stream.runs.evaluation import detection_metrics, evaluate_run
    from stream.wire.schemas import ScoreRecord

    values, records, beats = replay_frames(data_dir, split, patients, seed, hrv, frame_size,
                                           join)
    pending = segment_messages(values)
    detector = load_detector(checkpoint or _default_checkpoint())
    scores = detector.score(np.stack([p.samples for p in pending]).astype(np.float32))
    out = [ScoreRecord(patient=p.patient, mode="continuous", seq=p.seq,
                       onset_sample=p.onset_sample, score=float(s),
                       threshold=detector.threshold, threshold_source="static",
                       anomalous=bool(s > detector.threshold), model_version=detector.version,
                       sent_ms=p.sent_ms, received_ms=0, published_ms=p.sent_ms)
           for p, s in zip(pending, scores, strict=True)]
    report = evaluate_run(records, out, 0)
    rows = np.asarray([r.source_row for r in records])
    labels = [r.label for r in records]
    original = detector.score(beats[rows]) > detector.threshold
    beat_mode = detection_metrics(labels, original)
    report["onset_error"] = _onset_errors(records, out)
    report.update(split=split, patients=patients, seed=seed, hrv=hrv, join=join,
                  checkpoint=detector.version, threshold=detector.threshold,
                  f1_beat_mode=beat_mode["f1"],
                  f1_gap_points=round(100 * (beat_mode["f1"] - report["f1"]), 3))
    report.pop("latency_ms", None)
    report.pop("throughput_beats_per_s", None)
    return report


def _default_checkpoint() -> Path:
    from models.checkpoint import DEFAULT_DIR, UCR_DIR

    return DEFAULT_DIR if DEFAULT_DIR.is_dir() else UCR_DIR


def _onset_errors(records: list[Any], scores: list[Any],
                  tolerance: int = DEFAULT_ONSET_TOLERANCE) -> dict[str, float]:
    """Signed error (found - true) of each patient's onsets matched by :func:`match_onsets`."""
    true: dict[str, list[int]] = {}
    found: dict[str, list[int]] = {}
    for record in records:
        true.setdefault(record.patient, []).append(record.onset_sample)
    for score in scores:
        found.setdefault(score.patient, []).append(score.onset_sample)
    errors = []
    for patient, onsets in true.items():
        detected = found.get(patient, [])
        errors += [detected[j] - onsets[i] for i, j in match_onsets(onsets, detected, tolerance)]
    values = np.asarray(errors or [0])
    return {"abs_mean": round(float(np.abs(values).mean()), 3),
            "p1": float(np.percentile(values, 1)), "p99": float(np.percentile(values, 99)),
            "abs_max": int(np.abs(values).max())}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``learn`` or ``evaluate`` (JSON on stdout)."""
    parser = argparse.ArgumentParser(prog="python -m tools.segment_eval")
    parser.add_argument("command", choices=["learn", "learn-cut", "evaluate", "pipeline"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--frame-size", type=int, default=None,
                        help="samples per frame (evaluate: 64, pipeline: 128 as the replay)")
    parser.add_argument("--patients", type=int, default=None,
                        help="simulated patients (evaluate: 4, pipeline: 32 as the replay)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-hrv", action="store_true")
    parser.add_argument("--split", choices=["seed-test", "ucr-test", "all"], default="seed-test")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="learn: file the parameters are written to (required)")
    parser.add_argument("--join", choices=JOINS, default=JOIN_LEVEL,
                        help="beat joins of the replayed signal (pipeline): level or raw step")
    args = parser.parse_args(argv)
    hrv = None if args.no_hrv else DEFAULT_HRV
    if args.command == "learn-cut":
        if args.out is None:
            parser.error("learn-cut needs --out FILE (shipped: stream/segmentation/cut.json)")
        train, labels = load_split(args.data_dir, "TRAIN")
        rng = np.random.default_rng(args.seed)
        stitched = stitch(train[labels == 1], rng, hrv)
        cut, fit = learn_cut(stitched.signal, stitched.onsets, 140.0)
        provenance = {**learn_provenance(args.data_dir), "tool": "tools/segment_eval.py learn-cut",
                      "labels_used": "class 1 (normal) TRAIN beats, stitched with HRV "
                                     f"{list(hrv) if hrv else None}, seed {args.seed}",
                      "fit": fit}
        save_cut(cut, args.out, provenance)
        sys.stdout.write(json.dumps({"written": str(args.out), **fit}) + "\n")
        return 0
    if args.command == "learn" and args.out is None:
        parser.error("learn needs --out FILE (the shipped parameters: "
                     "stream/segmentation/fiducial.json)")
    if args.command == "pipeline":
        report = pipeline(args.data_dir, args.split, args.patients or 32, args.seed, hrv,
                          args.checkpoint, args.frame_size or 128, args.join)
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
        return 0
    if args.command == "learn":
        train, labels = load_split(args.data_dir, "TRAIN")
        fiducial = learn_fiducial(train[labels == 1])
        templates = np.round(learn_templates(train, labels), 6)
        rows = tuple(tuple(float(v) for v in row) for row in templates)
        save_fiducial(replace(fiducial, beat_templates=rows), args.out,
                      provenance=learn_provenance(args.data_dir))
        sys.stdout.write(json.dumps({"written": str(args.out)}) + "\n")
        return 0
    figures = evaluate(args.data_dir, args.patients or 4, args.frame_size or 64, hrv, args.seed)
    f1 = detection_f1(args.data_dir, figures)
    errors = np.asarray(figures["_errors"])
    public = {k: v for k, v in figures.items() if not k.startswith("_")}
    public["onset_error_abs_mean"] = float(np.abs(errors).mean())
    public["onset_error_p1_p50_p99"] = [float(np.percentile(errors, q)) for q in (1, 50, 99)]
    sys.stdout.write(json.dumps({**public, **f1}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
