"""One continuous-mode segmenter per patient, bounded, fed decoded frames."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from stream.schemas import FrameMessage
from stream.scoring import PendingBeat
from stream.settings import Settings

MAX_PATIENTS = 100_000


class SegmenterPool:
    """Per-patient segmenters (least recently used evicted past ``MAX_PATIENTS``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_patient: OrderedDict[str, Any] = OrderedDict()

    def push(self, frame: FrameMessage, received_ms: int
             ) -> tuple[list[PendingBeat], list[tuple[str, str]]]:
        """Feed one frame; return the beats it completed and (reason, detail) issues."""
        raise NotImplementedError
