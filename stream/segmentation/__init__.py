"""Continuous mode: frames of a patient's signal cut into beats as in training."""

from stream.segmentation.config import SegmenterConfig
from stream.segmentation.issues import Issue, Reason
from stream.segmentation.pool import SegmenterPool
from stream.segmentation.quality import match_onsets
from stream.segmentation.segmenter import Beat, PatientSegmenter

__all__ = [
    "Beat",
    "Issue",
    "PatientSegmenter",
    "Reason",
    "SegmenterConfig",
    "SegmenterPool",
    "match_onsets",
]
