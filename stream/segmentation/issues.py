"""Irregularities of a stream: an :class:`Issue` with a machine-readable :class:`Reason`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a frame or a stretch of signal did not become (only) beats."""

    DUPLICATE = "duplicate"  # frame_seq already consumed or already held
    LATE = "late"  # arrived after its gap was declared: dropped
    REORDERED = "reordered"  # ahead of a missing frame: held (informational, nothing lost)
    GAP = "gap"  # missing frames given up after reorder_window held frames
    FAR_FUTURE = "far_future"  # frame_seq too far ahead of the expected one: dropped
    RESYNC = "resync"  # several far-future frames in a row: stream restarted there
    START_MISMATCH = "start_mismatch"  # start_sample disagrees with the frames before it
    BAD_FS = "bad_fs"  # sampling rate not finite or out of range: frame dropped
    FS_CHANGED = "fs_changed"  # sampling rate changed: buffer restarted at the new rate
    BAD_SAMPLES = "bad_samples"  # empty or non-finite samples: frame dropped
    BUFFER_OVERFLOW = "buffer_overflow"  # no boundary within max_buffer_samples: reset
    PARTIAL_BEAT = "partial_beat"  # samples before the first / after the last boundary


@dataclass(frozen=True)
class Issue:
    """One irregularity; ``samples_lost`` counts signal samples that became no beat."""

    reason: Reason
    frame_seq: int | None = None
    samples_lost: int = 0
    detail: str = ""
