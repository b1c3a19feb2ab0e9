"""Limits of one patient's segmenter (:class:`SegmenterConfig`), from the project settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stream.segmentation.plans import SUPPORTED_RATES

if TYPE_CHECKING:
    from stream.settings import Settings


@dataclass(frozen=True)
class SegmenterConfig:
    """Limits of one patient's segmenter.

    Attributes:
        max_buffer_samples: a buffer growing past this without a boundary is reset.
        reorder_window: frames held waiting for a missing one before a gap is declared.
        max_sampling_rate: frames claiming more (Hz) are dropped (within
            :data:`SUPPORTED_RATES`).
        min_sampling_rate: frames claiming less (Hz) are dropped.
        max_ahead: frames more than this many past the expected seq are far-future.
        detect_block_s: QRS segmenter: frames are gathered into blocks of at least this
            much signal for the detector (0: every frame on its own).
    """

    max_buffer_samples: int = 8_192
    reorder_window: int = 8
    max_sampling_rate: float = SUPPORTED_RATES[1]
    min_sampling_rate: float = SUPPORTED_RATES[0]
    max_ahead: int = 64
    detect_block_s: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmenterConfig:
        """The limits named in the project settings."""
        return cls(
            max_buffer_samples=settings.max_buffer_samples,
            reorder_window=settings.reorder_window,
            max_sampling_rate=settings.max_sampling_rate,
            min_sampling_rate=settings.min_sampling_rate,
            max_ahead=max(64, 4 * (settings.reorder_window + 1)),
            detect_block_s=settings.detect_block_s,
        )
