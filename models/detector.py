"""The detector: owns device, runtime, threads and batching; returns reconstruction errors.

It scores and never decides: ``threshold`` (calibrated on validation data for this
runtime, read from the checkpoint) is for a threshold policy to use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.backends import Runtime, RuntimeName, make_runtime
from models.checkpoint import Checkpoint, load_checkpoint
from models.network import LstmAutoencoder
from stream.errors import CheckpointError

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 256


BUCKET_STEP = 16
"""Above this many rows a batch is padded to a multiple of it (below: to a power of two)."""


def bucket_size(n: int, batch_size: int) -> int:
    """The batch size ``n`` rows are scored as, never below ``n``, at most ``batch_size``.

    2, 4, 8 or 16 up to 16 rows, then the next multiple of :data:`BUCKET_STEP`: the runtime
    sees at most 4 + ``batch_size`` / 16 input shapes (20 at 256), and pads at most 15 rows.
    """
    if n <= BUCKET_STEP:
        size = max(2, 1 << (n - 1).bit_length())
    else:
        size = -(-n // BUCKET_STEP) * BUCKET_STEP
    return max(n, min(size, batch_size))


def bucket_sizes(batch_size: int) -> list[int]:
    """Every size :func:`bucket_size` gives for 1 to ``batch_size`` rows."""
    return sorted({bucket_size(n, batch_size) for n in range(1, batch_size + 1)})


class Detector:
    """Batched reconstruction-error scorer around a trained autoencoder.

    Attributes:
        threshold: calibrated static threshold for this runtime; score > threshold = anomaly.
        version: the model version string of the checkpoint.
        runtime_name: ``torch``, ``torch-bf16`` or ``onnxruntime``.
        batch_size: the largest chunk scored in one call of the runtime.
    """

    def __init__(self, model: LstmAutoencoder, threshold: float, version: str,
                 runtime: RuntimeName = "torch", num_threads: int = 1,
                 batch_size: int = DEFAULT_BATCH, device: str = "cpu") -> None:
        self.model = model
        self.threshold = float(threshold)
        self.version = version
        self.runtime_name = runtime
        self.batch_size = batch_size
        self.seq_len = model.seq_len
        self._num_threads = num_threads
        self._runtime: Runtime = make_runtime(model, runtime, device, num_threads)

    @property
    def num_threads(self) -> int:
        """Intra-op threads of the runtime (torch's setting is process-wide)."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        if value < 1:
            msg = f"num_threads must be >= 1, got {value}"
            raise ValueError(msg)
        self._num_threads = value
        self._runtime.set_threads(value)

    def score(self, beats: NDArray[np.float32]) -> NDArray[np.float32]:
        """Reconstruction errors of z-normalized beats; higher = more anomalous.

        Args:
            beats: float32 ``(n, 140)`` (``(140,)`` is taken as one beat), normalized with
                :func:`models.preprocess.znormalize`.

        Returns:
            float32 ``(n,)``: sum over samples of ``|beat - reconstruction|``.

        Raises:
            ValueError: wrong shape or non-finite values.
        """
        x = np.ascontiguousarray(np.atleast_2d(beats), dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.seq_len:
            msg = f"beats must have shape (n, {self.seq_len}), got {np.shape(beats)}"
            raise ValueError(msg)
        if not np.isfinite(x).all():
            msg = "beats contain NaN or infinite values"
            raise ValueError(msg)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        if len(x) <= self.batch_size:
            return self._run(x)
        chunks = [self._run(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(chunks)

    def warm_up(self, max_batch: int) -> None:
        """Score throwaway batches of every bucket size up to ``max_batch`` (nothing is kept).

        The first real beats then do not pay the runtime's one-time costs, and the memory
        the runtime keeps per input shape is taken at start-up.
        """
        top = bucket_size(max(2, min(max_batch, self.batch_size)), self.batch_size)
        for size in (s for s in bucket_sizes(self.batch_size) if s <= top):
            self.score(np.zeros((size, self.seq_len), dtype=np.float32))

    def _run(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        # Padded (last row repeated) to a bucket size: the runtimes keep per-input-shape
        # state (torch's CPU LSTM about 1.3 MiB a batch size, never released), so a stream
        # of ragged batches would grow the process by each new size it happens to see.
        # A batch of one takes another kernel path in torch's LSTM whose float32 result
        # differs from the batched one by up to ~3e-6 per sample; padding it to two keeps a
        # beat's score independent of how a stream happened to batch it (a row's score does
        # not depend on the batch size from two up).
        n = len(x)
        size = bucket_size(n, self.batch_size)
        if size == n:
            return self._runtime(x)
        return self._runtime(np.concatenate([x, np.repeat(x[-1:], size - n, axis=0)]))[:n]


    def reconstruct(self, beats: NDArray[np.float32]) -> NDArray[np.float32]:
        """Reconstructions by the float32 torch reference path, for plots and inspection.

        Args:
            beats: float32 ``(n, 140)``.

        Returns:
            float32 ``(n, 140)``.
        """
        import torch  # local: torch loads only when used (fast --help)

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(beats, dtype=np.float32)).unsqueeze(-1)
            return self.model(x).squeeze(-1).numpy()


def _threshold_for(config: dict[str, Any], runtime: str) -> float:
    by_runtime = config["threshold"].get("by_runtime", {})
    if runtime not in by_runtime:
        msg = f"checkpoint has no threshold calibrated for runtime {runtime!r}: {list(by_runtime)}"
        raise CheckpointError(msg)
    return float(by_runtime[runtime])


def load_detector(path: Path | None = None, runtime: RuntimeName | None = None,
                  num_threads: int = 1, batch_size: int = DEFAULT_BATCH,
                  device: str = "cpu", expected_sha256: str | None = None) -> Detector:
    """Load a verified checkpoint directory (default: the shipped one) as a detector.

    Args:
        path: checkpoint directory, or None for ``models/checkpoints/default``.
        runtime: None for the runtime the checkpoint recommends (``config["runtime"]``).
        num_threads: intra-op threads.
        batch_size: largest chunk per runtime call.
        device: ``cpu`` or ``cuda`` (torch runtimes only).
        expected_sha256: the seal the checkpoint must have (``ECG_CHECKPOINT_SHA256``).

    Raises:
        CheckpointError: bad, tampered or unpinned checkpoint, a bad value in its config, or
            no threshold calibrated for the runtime.
    """
    return detector_from(load_checkpoint(path, expected_sha256), runtime, num_threads,
                         batch_size, device)


def detector_from(checkpoint: Checkpoint, runtime: RuntimeName | None = None,
                  num_threads: int = 1, batch_size: int = DEFAULT_BATCH,
                  device: str = "cpu") -> Detector:
    """A detector of an already loaded and verified checkpoint (:func:`load_detector`)."""
    config = checkpoint.config
    chosen: RuntimeName = runtime or config.get("runtime", "torch")
    return Detector(checkpoint.model, _threshold_for(config, chosen), str(config["version"]),
                    chosen, num_threads, batch_size, device)
