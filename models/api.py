"""A small Python API in the style of PyOD: fit on normal beats, score, threshold, predict.

>>> detector = BeatAutoencoder(epochs=100).fit(normal_beats)          # doctest: +SKIP
>>> detector.decision_function(beats)   # reconstruction errors, higher = more abnormal
>>> detector.threshold_, detector.predict(beats)   # 1 = anomalous, 0 = normal
>>> detector.save("checkpoints/mine", source="mitdb100")    # a sealed checkpoint
>>> BeatAutoencoder.load("checkpoints/mine").predict(beats)

Beats are ``(n, 140)`` arrays in the model's convention (``ecg-stream`` cuts them so); each
is z-normalized here, as the worker does. ``ecg-stream model train --record/--beats`` uses
this class.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.model_selection import train_test_split

from models.backends import available_runtimes
from models.calibrate import QuantileRule, RobustRule, Rule, calibrate
from models.checkpoint import load_checkpoint
from models.detector import Detector, detector_from
from models.fit import calibrate_runtimes, training_record, write_checkpoint
from models.preprocess import BEAT_LENGTH, znormalize
from models.train import TrainConfig, train
from stream.errors import DataError

VALIDATION_SHARE = 0.2
MIN_BEATS = 20


def beats_sha256(beats: NDArray[np.float32]) -> str:
    """The sha256 of a float32 beat array (shape and bytes): the checkpoint's data checksum."""
    array = np.ascontiguousarray(beats, dtype=np.float32)
    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def as_beats(x: ArrayLike) -> NDArray[np.float32]:
    """``x`` as z-normalized float32 beats ``(n, 140)``.

    Raises:
        DataError: not a 2-D array of 140-sample beats, or not finite.
    """
    beats = np.asarray(x, dtype=np.float32)
    if beats.ndim != 2 or beats.shape[1] != BEAT_LENGTH or not np.isfinite(beats).all():
        msg = f"beats must be a finite (n, {BEAT_LENGTH}) array, got shape {beats.shape}"
        raise DataError(msg)
    return znormalize(beats)


class BeatAutoencoder:
    """The LSTM autoencoder as an outlier detector of ECG beats (PyOD's conventions).

    Attributes (after :meth:`fit` or :meth:`load`):
        threshold_: scores above it are anomalous: from the held-out normal beats' scores,
            ``exp(median + robust_k x robust SD)`` of their logarithms (default), or their
            ``quantile`` when one is given (:mod:`models.calibrate`).
        decision_scores_: the scores of the beats ``fit`` trained on (PyOD's name).
        labels_: ``decision_scores_ > threshold_`` as 0/1.
        training_: the training record (hyper-parameters, losses, best epoch, counts).
    """

    def __init__(self, hidden: tuple[int, ...] = (64, 32), epochs: int = 150,
                 batch_size: int = 32, lr: float = 2e-3, patience: int = 20, seed: int = 1,
                 noise: float = 0.0, quantile: float | None = None, robust_k: float = 6.0,
                 validation_share: float = VALIDATION_SHARE, threads: int = 2,
                 device: str = "auto", max_minutes: float | None = None,
                 progress: bool = False) -> None:
        self.config = TrainConfig(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                                  patience=patience, seed=seed, threads=threads, device=device,
                                  noise=noise, max_minutes=max_minutes)
        # The threshold: RobustRule(robust_k) unless a quantile is asked for (QuantileRule,
        # ECG5000's rule); models.calibrate says why.
        self.rule: Rule = QuantileRule(quantile) if quantile is not None else RobustRule(robust_k)
        self.validation_share, self.progress = validation_share, progress
        self.detector_: Detector | None = None
        self.threshold_: float = float("nan")
        self.decision_scores_: NDArray[np.float32] = np.zeros(0, np.float32)
        self.training_: dict[str, Any] = {}
        self.data_sha256_: str | None = None
        self._validation: NDArray[np.float32] | None = None

    def fit(self, x: ArrayLike, validation: ArrayLike | None = None) -> BeatAutoencoder:
        """Train on normal beats ``x``; calibrate the threshold on ``validation`` normals.

        Without ``validation``, ``validation_share`` of ``x`` (seeded) is held out for early
        stopping and calibration.

        Raises:
            DataError: fewer than :data:`MIN_BEATS` beats to train or to calibrate on.
        """
        beats = as_beats(x)
        if validation is None:
            fit_on, held_out = train_test_split(beats, test_size=self.validation_share,
                                                random_state=self.config.seed)
        else:
            fit_on, held_out = beats, as_beats(validation)
        if len(fit_on) < MIN_BEATS or len(held_out) < MIN_BEATS:
            msg = (f"need at least {MIN_BEATS} normal beats to train and {MIN_BEATS} to "
                   f"calibrate, got {len(fit_on)} and {len(held_out)}")
            raise DataError(msg)
        started = time.perf_counter()
        result = train(fit_on, held_out, self.config, self.progress)
        detector = self.detector_ = Detector(result.model.cpu().eval(), 0.0, "unsaved", "torch")
        self.threshold_ = detector.threshold = calibrate(detector.score(held_out), self.rule)
        self.decision_scores_ = self.detector_.score(fit_on)
        self.training_ = {**training_record(self.config, result, time.perf_counter() - started),
                          "beats": {"train": len(fit_on), "validation": len(held_out)}}
        self.data_sha256_ = beats_sha256(np.concatenate([fit_on, held_out]))
        self._validation = held_out
        return self

    def save(self, directory: str | Path, source: str = "beats",
             data: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None
             ) -> dict[str, Any]:
        """Write a sealed checkpoint the worker can load (``ECG_CHECKPOINT``); its config.

        Every runtime gets its threshold from its own scores of the held-out beats. The
        version names ``source`` and carries the data's and weights' hashes.

        Args:
            directory: the checkpoint folder (created; files replaced).
            source: what the beats came from, a short name (``mitdb100``).
            data: more about the data for the record (files, checksums, annotations used).
            metrics: evaluation figures to keep in the checkpoint.
        """
        detector = self._fitted()
        if self._validation is None:
            msg = "save() needs the held-out beats of fit(); a loaded detector is saved already"
            raise RuntimeError(msg)
        model = detector.model
        others = tuple(r for r in available_runtimes() if r != "torch")
        thresholds = {"torch": self.threshold_,
                      **calibrate_runtimes(model, self._validation, self.rule, others)}
        record = {"sha256": self.data_sha256_, "source": source, **(data or {})}
        written = write_checkpoint(model, Path(directory), source,
                                   {"protocol": source, **self.training_}, record, self.rule,
                                   thresholds, "torch", metrics or {})
        detector.version = written["version"]
        return written

    @property
    def labels_(self) -> NDArray[np.int8]:
        """0/1 labels of the training beats (1 = above the threshold)."""
        return (self.decision_scores_ > self.threshold_).astype(np.int8)

    def _fitted(self) -> Detector:
        if self.detector_ is None:
            msg = "this BeatAutoencoder is not fitted: call fit() or load() first"
            raise RuntimeError(msg)
        return self.detector_

    def decision_function(self, x: ArrayLike) -> NDArray[np.float32]:
        """Anomaly scores of beats ``x`` (the L1 reconstruction error; higher = more abnormal)."""
        return self._fitted().score(as_beats(x))

    def predict(self, x: ArrayLike) -> NDArray[np.int8]:
        """1 for each beat scored above :attr:`threshold_`, else 0."""
        return (self.decision_function(x) > self.threshold_).astype(np.int8)

    @property
    def version(self) -> str:
        """The model version (the checkpoint's, once saved or loaded)."""
        return self._fitted().version

    @classmethod
    def load(cls, directory: str | Path) -> BeatAutoencoder:
        """A fitted detector from a checkpoint folder (verified whole, as the worker does)."""
        checkpoint = load_checkpoint(Path(directory))
        detector, config = detector_from(checkpoint), checkpoint.config
        loaded = cls(hidden=tuple(config["architecture"]["hidden"]))
        loaded.detector_, loaded.threshold_ = detector, detector.threshold
        loaded.training_ = config.get("training", {})
        return loaded
