"""Real ECG recordings (WFDB, EDF/EDF+/BDF, CSV) read one lead at a time, for the producer."""

from __future__ import annotations

from producers.records.readers import list_leads, read_recording
from producers.records.recording import (
    BEAT_SYMBOLS,
    Annotation,
    RecordError,
    Recording,
    convert_units,
    normalize_units,
)

__all__ = [
    "BEAT_SYMBOLS",
    "Annotation",
    "RecordError",
    "Recording",
    "convert_units",
    "list_leads",
    "normalize_units",
    "read_recording",
]
