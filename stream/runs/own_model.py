"""``ecg-stream model train --record/--beats``: a model of a user's own data, measured.

Records: the beats of the first ``train_s`` seconds of each recording (only those the
reference annotations call normal, ``N``, when there are annotations) are the training
data, a seeded fifth of them held out for early stopping and the threshold; the beats after
``train_s`` are scored and reported per annotation symbol. UCR files: the normal class's
beats split 70 / 15 / 15 (train, validation, test), the other classes are test anomalies.
The checkpoint is written by :class:`models.api.BeatAutoencoder`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from models.api import BeatAutoencoder
from models.data import read_ucr, sha256_file
from stream.errors import DataError
from stream.runs.record_beats import NORMAL_SYMBOL, RecordBeats, record_beats
from stream.settings import Settings

NORMAL_CLASS = 1


def source_name(paths: list[Path]) -> str:
    """A short name of the data for the version: the first file's stem (and ``+N`` more)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "", paths[0].stem)[:24] or "data"
    return stem if len(paths) == 1 else f"{stem}+{len(paths) - 1}"


def _evaluation(scores: NDArray[np.float32], symbols: list[str], threshold: float,
                from_s: float | None) -> dict[str, Any]:
    flagged = scores > threshold
    by: dict[str, dict[str, int]] = {}
    for symbol, flag in zip(symbols, flagged, strict=True):
        row = by.setdefault(symbol or "unannotated", {"beats": 0, "flagged": 0})
        row["beats"] += 1
        row["flagged"] += int(flag)
    normal = np.array([s == NORMAL_SYMBOL for s in symbols], dtype=bool)
    other = np.array([bool(s) and s != NORMAL_SYMBOL for s in symbols], dtype=bool)
    report: dict[str, Any] = {"beats": len(symbols), "by_symbol": dict(sorted(by.items()))}
    if from_s is not None:
        report["from_s"] = from_s
    if normal.any():
        report["normal_flagged_percent"] = round(100 * float(flagged[normal].mean()), 3)
    if normal.any() and other.any():
        keep = normal | other
        report["roc_auc_normal_vs_other"] = round(float(roc_auc_score(
            other[keep], scores[keep].astype(np.float64))), 6)
    return report


def train_on_records(settings: Settings, paths: list[Path], lead: str | None, train_s: float,
                     detector: BeatAutoencoder, out: Path, name: str | None = None
                     ) -> dict[str, Any]:
    """Train on the recordings' first ``train_s`` seconds, evaluate on the rest, save.

    Raises:
        DataError: a recording without beats, or too few normal beats to train on.
    """
    cut: list[RecordBeats] = [record_beats(settings, p, lead) for p in paths]
    empty = [c.source for c in cut if not len(c.beats)]
    if empty:
        msg = f"no beats found in {empty[0]}: check the lead (--lead) and the signal"
        raise DataError(msg)
    train_parts, test_scores_in, test_symbols = [], [], []
    kept: Counter[str] = Counter()
    for c in cut:
        early = c.window(0.0, train_s)
        keep = early & c.labelled(NORMAL_SYMBOL) if c.annotated else early
        kept.update(c.symbols[i] or "unannotated" for i in np.flatnonzero(keep))
        train_parts.append(c.beats[keep])
        late = c.window(train_s, None)
        test_scores_in.append(c.beats[late])
        test_symbols += [c.symbols[i] for i in np.flatnonzero(late)]
    detector.fit(np.concatenate(train_parts))
    held = np.concatenate(test_scores_in)
    evaluation = _evaluation(detector.decision_function(held) if len(held)
                             else np.zeros(0, np.float32), test_symbols, detector.threshold_,
                             train_s)
    data = {"records": {f"{c.source}": sha256_file(Path(p).with_suffix(".dat"))
                        if Path(p).with_suffix(".dat").is_file() else sha256_file(Path(p))
                        for c, p in zip(cut, paths, strict=True)},
            "train_s": train_s, "training_beats": dict(sorted(kept.items())),
            "selection": "reference annotations N" if all(c.annotated for c in cut)
            else "every beat of the window"}
    written = detector.save(out, name or source_name(paths), data, {"records": evaluation})
    return _summary(out, written, detector, evaluation)


def train_on_ucr(files: list[Path], detector: BeatAutoencoder, out: Path,
                 name: str | None = None, seed: int = 1) -> dict[str, Any]:
    """Train on UCR-format files' normal class (label 1), evaluate on held-out and others.

    Raises:
        DataError: unreadable files, or too few normal beats.
    """
    splits = [read_ucr(f) for f in files]
    beats = np.concatenate([s.beats for s in splits])
    labels = np.concatenate([s.labels for s in splits])
    normal, anomaly = beats[labels == NORMAL_CLASS], beats[labels != NORMAL_CLASS]
    if len(normal) < 60:
        msg = f"need at least 60 beats of class {NORMAL_CLASS}, got {len(normal)}"
        raise DataError(msg)
    fit_on, test_normal = train_test_split(normal, test_size=0.15, random_state=seed)
    train, validation = train_test_split(fit_on, test_size=0.15 / 0.85, random_state=seed)
    detector.fit(train, validation)
    scores = detector.decision_function(np.concatenate([test_normal, anomaly]))
    symbols = [NORMAL_SYMBOL] * len(test_normal) + [f"class{int(c)}"
                                                    for c in labels[labels != NORMAL_CLASS]]
    evaluation = _evaluation(scores, symbols, detector.threshold_, None)
    data = {"files": {f.name: sha256_file(f) for f in files},
            "counts": {"train": len(train), "validation": len(validation),
                       "test_normal": len(test_normal), "test_anomaly": len(anomaly)}}
    written = detector.save(out, name or source_name(files), data, {"beats": evaluation})
    return _summary(out, written, detector, evaluation)


def _summary(out: Path, written: dict[str, Any], detector: BeatAutoencoder,
             evaluation: dict[str, Any]) -> dict[str, Any]:
    return {"checkpoint": str(out), "version": written["version"],
            "threshold": written["threshold"]["value"],
            "best_epoch": detector.training_["best_epoch"],
            "training_beats": detector.training_["beats"], "evaluation": evaluation}
