"""Inference runtimes behind the detector: torch (the reference path) and ONNX Runtime.

Each runtime maps a float32 batch ``(b, 140)`` to reconstruction errors ``(b,)``: the sum
over the 140 samples of ``|beat - reconstruction|`` (the reference notebook's L1 score).
"""

from __future__ import annotations

import copy
import importlib.util
import io
import logging
import warnings
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from models.network import LstmAutoencoder
from models.runtimes import RUNTIMES, RuntimeName

__all__ = ["RUNTIMES", "Runtime", "RuntimeName", "available_runtimes", "make_runtime"]

logger = logging.getLogger(__name__)



def available_runtimes() -> tuple[RuntimeName, ...]:
    """The runtimes usable here: ONNX Runtime only with the optional ``onnx`` extra."""
    if importlib.util.find_spec("onnxruntime") is None:
        return ("torch", "torch-bf16")
    return RUNTIMES


class Runtime(Protocol):
    """Scores one batch; the detector owns chunking and input checks."""

    name: str

    def __call__(self, beats: NDArray[np.float32]) -> NDArray[np.float32]:
        """Reconstruction errors ``(b,)`` of a C-contiguous float32 batch ``(b, 140)``."""
        ...

    def set_threads(self, num_threads: int) -> None:
        """Use ``num_threads`` intra-op threads."""
        ...


class ScoreGraph(nn.Module):
    """Autoencoder plus L1 score, for export as one graph: ``(b, 140) -> (b,)``."""

    def __init__(self, model: LstmAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, beats: torch.Tensor) -> torch.Tensor:
        """Sum of absolute reconstruction errors per beat."""
        x = beats.unsqueeze(-1)
        return (self.model(x) - x).abs().sum(dim=(1, 2))


class TorchRuntime:
    """PyTorch on CPU or CUDA, float32 or bfloat16 (weights and activations)."""

    def __init__(self, model: LstmAutoencoder, device: str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.name = "torch" if dtype == torch.float32 else "torch-bf16"
        self.device, self.dtype = torch.device(device), dtype
        self.graph = ScoreGraph(copy.deepcopy(model)).to(self.device, dtype).eval()

    def __call__(self, beats: NDArray[np.float32]) -> NDArray[np.float32]:
        """Reconstruction errors ``(b,)`` of a float32 batch ``(b, 140)``."""
        with torch.inference_mode():
            x = torch.from_numpy(beats).to(self.device, self.dtype)
            return self.graph(x).float().cpu().numpy()

    def set_threads(self, num_threads: int) -> None:
        """Set torch's intra-op threads (process-wide)."""
        torch.set_num_threads(num_threads)


def export_onnx(model: LstmAutoencoder) -> bytes:
    """The score graph as ONNX bytes, dynamic batch axis (TorchScript exporter)."""
    buffer = io.BytesIO()
    example = torch.zeros(2, model.seq_len)
    with warnings.catch_warnings():
        # The exporter warns that LSTMs exported with batch > 1 may break other batch sizes;
        # the initial states are zeros built from the input here, and the tests check
        # batch sizes 1..n against torch.
        warnings.simplefilter("ignore")  # also the tracer's warnings about constant shapes
        _export(model, example, buffer)
    return buffer.getvalue()


def _export(model: LstmAutoencoder, example: torch.Tensor, buffer: io.BytesIO) -> None:
    torch.onnx.export(
        # torch's annotation names only paths, but export writes to a file-like object too.
        ScoreGraph(model).eval(), (example,), buffer,  # type: ignore[arg-type]
        input_names=["beats"],
        output_names=["scores"], dynamic_axes={"beats": {0: "batch"}, "scores": {0: "batch"}},
        opset_version=17, dynamo=False,
    )


class OnnxRuntime:
    """ONNX Runtime CPU session over the exported score graph (needs the ``onnx`` extra)."""

    def __init__(self, model: LstmAutoencoder, num_threads: int = 1) -> None:
        self.name = "onnxruntime"
        self._onnx = export_onnx(model)
        self.set_threads(num_threads)

    def set_threads(self, num_threads: int) -> None:
        """Rebuild the session with ``num_threads`` intra-op threads."""
        import onnxruntime as ort  # local: onnxruntime loads only when used (fast --help)

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            self._onnx, options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, beats: NDArray[np.float32]) -> NDArray[np.float32]:
        """Reconstruction errors ``(b,)`` of a float32 batch ``(b, 140)``."""
        (scores,) = self._session.run(None, {"beats": beats})
        return np.asarray(scores, dtype=np.float32)


def make_runtime(model: LstmAutoencoder, name: RuntimeName, device: str = "cpu",
                 num_threads: int = 1) -> Runtime:
    """Build the named runtime around ``model``."""
    runtime: Runtime
    if name == "onnxruntime":
        runtime = OnnxRuntime(model, num_threads)
    elif name in ("torch", "torch-bf16"):
        dtype = torch.bfloat16 if name == "torch-bf16" else torch.float32
        runtime = TorchRuntime(model, device, dtype)
        runtime.set_threads(num_threads)
    else:
        msg = f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}"
        raise ValueError(msg)
    return runtime
