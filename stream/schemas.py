"""Wire schemas (JSON, version 1) of every topic, declared once.

Keys of all messages are the patient id (UTF-8), so one patient's messages stay in order on
one partition. Timestamps are integer epoch milliseconds (UTC).
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

SCHEMA_VERSION = 1
BEAT_LENGTH = 140


def now_ms() -> int:
    """Current time as integer epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    schema_: Literal[1] = Field(SCHEMA_VERSION, alias="schema")


class _Input(_Wire):
    """Input messages: the schema version is required.

    Numbers are strict (no strings or booleans) and finite: NaN and infinity are refused by
    the parser itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_: Literal[1] = Field(alias="schema")


class BeatMessage(_Input):
    """``ecg.beats``: one heartbeat (beat mode).

    ``samples`` of another length than 140 are resampled to 140 by the worker, which notes the
    original length in the score record.
    """

    patient: str = Field(min_length=1, max_length=128)
    seq: StrictInt = Field(ge=0, description="beat sequence number within the patient")
    samples: list[StrictFloat] = Field(min_length=8, max_length=4096)
    sent_ms: StrictInt = Field(ge=0, description="producer send time")


class FrameMessage(_Input):
    """``ecg.signal``: K consecutive samples of one patient's continuous signal."""

    patient: str = Field(min_length=1, max_length=128)
    frame_seq: StrictInt = Field(ge=0, description="frame number within the patient")
    start_sample: StrictInt = Field(ge=0, description="index of samples[0] in the signal")
    fs: StrictFloat = Field(gt=0, description="sampling rate, Hz")
    samples: list[StrictFloat] = Field(min_length=1, max_length=4096)
    sent_ms: StrictInt = Field(ge=0)


class ScoreRecord(_Wire):
    """``ecg.scores`` (every beat) and ``ecg.anomalies`` (beats judged anomalous).

    A beat's identity is (patient, seq) in beat mode and (patient, onset_sample) in
    continuous mode; duplicates after a crash carry the same identity.
    """

    patient: str
    mode: Literal["beat", "continuous"]
    seq: int = Field(description="beat seq (beat mode) or detected beat index (continuous)")
    onset_sample: int | None = Field(None, description="continuous mode: detected beat onset")
    score: float = Field(description="reconstruction error: sum of |beat - reconstruction|")
    threshold: float
    threshold_source: Literal["static", "patient"]
    anomalous: bool
    model_version: str
    resampled_from: int | None = Field(None, description="original length when not 140")
    degraded: bool = Field(False, description="Redis unavailable: static threshold used")
    sent_ms: int
    received_ms: int
    published_ms: int
    worker: str = ""


class DeadLetter(_Wire):
    """``ecg.deadletter``: input that could not be processed, with why and where it came from."""

    reason: str = Field(description="short machine-readable reason, e.g. invalid_json")
    detail: str = Field("", max_length=1000)
    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    payload: str = Field("", description="raw payload (first 2 KiB), as payload_encoding says")
    payload_encoding: Literal["utf-8", "base64"] = Field(
        "utf-8", description="utf-8: text, invalid bytes escaped; base64: a binary payload")
    payload_bytes: int = Field(0, description="size of the original payload")
    received_ms: int
    worker: str = ""


class Alert(_Wire):
    """``ecg.alerts``: m of the last n beats of a patient were anomalous."""

    patient: str
    anomalies: int
    window: int
    first_seq: int
    last_seq: int
    raised_ms: int
    max_score: float
