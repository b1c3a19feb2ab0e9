"""The names of the inference runtimes (torch-free, for settings and the command line)."""

from __future__ import annotations

from typing import Literal

RuntimeName = Literal["torch", "torch-bf16", "onnxruntime"]
RUNTIMES: tuple[RuntimeName, ...] = ("torch", "torch-bf16", "onnxruntime")
