"""Wire schemas (JSON, version 1) of every topic, declared once.

Keys of all messages are the patient id (UTF-8), so one patient's messages stay in order on
one partition. Timestamps are integer epoch milliseconds (UTC).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.preprocess import BEAT_LENGTH as BEAT_LENGTH  # re-exported: the model's input

SCHEMA_VERSION: Final = 1
FRAME_SCHEMA_VERSIONS: Final = (1, 2)
"""Versions of ``ecg.signal`` frames accepted: 2 adds ``known_to_model`` and ``units``."""
FrameUnits = Literal["mV", "uV", "V", "adc"]
FRAME_UNITS: Final[tuple[FrameUnits, ...]] = ("mV", "uV", "V", "adc")
"""What a frame's samples may be: millivolts, microvolts, volts or ADC counts."""
MAX_PATIENT_BYTES = 128
"""Longest patient id, in bytes of UTF-8 (the binary layout's limit is the same)."""
MAX_INT = 2**63 - 1
"""Largest sequence number, sample index or timestamp accepted: a signed 64-bit integer."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Samples beyond +-3.4e38 are refused: the model works in float32, where they are infinite."""


def now_ms() -> int:
    """Current time as integer epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000


def _patient_bytes(value: str) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_PATIENT_BYTES:
        kind, msg = "string_too_long", "patient id is {size} bytes of UTF-8, at most {limit}"
        raise PydanticCustomError(kind, msg, {"size": size, "limit": MAX_PATIENT_BYTES})
    return value


def _float32_range(values: list[float]) -> list[float]:
    if values and float(np.abs(np.asarray(values, dtype=np.float64)).max()) > FLOAT32_MAX:
        kind, msg = "finite_number", "samples beyond the float32 range (+-3.4e38)"
        raise PydanticCustomError(kind, msg)
    return values


PatientId = Annotated[str, Field(min_length=1, max_length=MAX_PATIENT_BYTES),
                      AfterValidator(_patient_bytes)]
"""1-128 bytes of UTF-8 (also the Kafka key of every message)."""
Count = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    schema_: Literal[1] = Field(SCHEMA_VERSION, alias="schema")


class _Input(_Wire):
    """Input messages: the schema version is required.

    Numbers are strict (no strings or booleans) and finite: NaN and infinity are refused by
    the parser itself, samples beyond the float32 range too. ``schema`` is the integer 1
    (not ``true`` or ``1.0``); integers are at most 2**63 - 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_: Literal[1] = Field(alias="schema")

    @field_validator("schema_", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        if type(value) is not int:
            kind, msg = "literal_error", "schema must be the integer version 1"
            raise PydanticCustomError(kind, msg)
        return value


class BeatMessage(_Input):
    """``ecg.beats``: one heartbeat (beat mode).

    ``samples`` of another length than 140 are resampled to 140 by the worker, which notes the
    original length in the score record.
    """

    patient: PatientId
    seq: Count = Field(description="beat sequence number within the patient")
    samples: Annotated[list[StrictFloat], Field(min_length=8, max_length=4096),
                       AfterValidator(_float32_range)]
    sent_ms: Count = Field(description="producer send time")


class FrameMessage(_Input):
    """``ecg.signal``: K consecutive samples of one patient's continuous signal.

    Schema 2 adds ``known_to_model``: the patient is one the model was trained on (the
    ECG5000 replays), judged on the calibrated model threshold without a learning period;
    and ``units``, what the samples are (mV, uV, V or ADC counts; absent: not stated). The
    worker needs neither scale nor units (its detector is scale-free); the ward board draws
    the strip in millivolts when the units are physical. A schema-1 frame is a patient the
    model does not know, in unstated units.
    """

    schema_: Literal[1, 2] = Field(alias="schema")  # type: ignore[assignment]  # 1 or 2 here
    patient: PatientId
    frame_seq: Count = Field(description="frame number within the patient")
    start_sample: Count = Field(description="index of samples[0] in the signal")
    fs: StrictFloat = Field(gt=0, description="sampling rate, Hz")
    samples: Annotated[list[StrictFloat], Field(min_length=1, max_length=4096),
                       AfterValidator(_float32_range)]
    sent_ms: Count
    known_to_model: StrictBool = Field(False, description="schema 2: the model knows this patient")
    units: FrameUnits | None = Field(None, description="schema 2: what the samples are")

    @field_validator("schema_", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        if type(value) is not int or value not in FRAME_SCHEMA_VERSIONS:
            kind, msg = "literal_error", "schema must be the integer version 1 or 2"
            raise PydanticCustomError(kind, msg)
        return value

    @field_validator("known_to_model", "units", mode="after")
    @classmethod
    def _needs_version_2(cls, value: Any, info: Any) -> Any:
        if value and info.data.get("schema_") == 1:
            kind, msg = "extra_forbidden", f"{info.field_name} needs schema 2"
            raise PydanticCustomError(kind, msg)
        return value


class ScoreRecord(_Wire):
    """``ecg.scores`` (every beat) and ``ecg.anomalies`` (beats judged anomalous).

    A beat's identity is (patient, seq) in beat mode and (patient, onset_sample) in
    continuous mode; duplicates after a crash carry the same identity.
    """

    patient: str
    mode: Literal["beat", "continuous"]
    seq: int = Field(description="beat seq (beat mode) or detected beat index (continuous)")
    onset_sample: int | None = Field(None, description="continuous mode: detected beat onset")
    fiducial_sample: int | None = Field(
        None, description="continuous mode (QRS segmenter): the beat's detected R peak")
    score: float = Field(description="reconstruction error: sum of |beat - reconstruction|")
    threshold: float
    threshold_source: Literal["static", "patient"]
    anomalous: bool
    model_version: str
    resampled_from: int | None = Field(None, description="original length when not 140")
    rr_before_ms: float | None = Field(
        None, description="continuous mode: RR interval before the beat (previous boundary)")
    rr_after_ms: float | None = Field(
        None, description="continuous mode: RR interval after the beat (its own length)")
    heart_rate_bpm: float | None = Field(
        None, description="continuous mode: instantaneous heart rate, 60 / rr_before")
    premature: bool | None = Field(
        None, description="continuous mode: RR before shorter than the documented fraction "
                          "of the patient's running RR (None: undecided)")
    judged_by: Literal["model", "learning", "patient"] = Field(
        "model", description="model: the calibrated model threshold (beat mode, patients the "
        "model knows); learning: in the patient's learning period (never anomalous); patient: "
        "the patient's learned normal")
    morphology_distance: float | None = Field(
        None, description="judged_by patient: distance of the beat to the patient's template")
    morphology_threshold: float | None = Field(
        None, description="judged_by patient: the patient's morphology threshold")
    anomaly_reason: Literal["model", "morphology", "rhythm", "both"] | None = Field(
        None, description="why anomalous: the model's score, the patient's morphology, "
        "rhythm (premature), or both of the last two; null when not anomalous")
    degraded: bool = Field(False, description="Redis unavailable: static threshold used")
    sent_ms: int = Field(description="send time of the beat (beat mode) or of the frame "
                                     "holding its last sample (continuous mode)")
    frame_sent_ms: int | None = Field(
        None, description="continuous mode: send time of the frame whose arrival completed "
                          "the beat (frame latency: published_ms minus it)")
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
    key: str | None = Field(None, max_length=1024,
                            description="record key (first 256 bytes, invalid UTF-8 escaped)")
    payload: str = Field("", description="raw payload (first 2 KiB), as payload_encoding says")
    payload_encoding: Literal["utf-8", "base64"] = Field(
        "utf-8", description="utf-8: text, invalid bytes escaped; base64: a binary payload")
    payload_bytes: int = Field(0, description="size of the original payload")
    received_ms: int
    worker: str = ""


AlertKind = Literal["anomaly_run", "asystole", "bradycardia", "tachycardia",
                    "ventricular_tachycardia", "lead_off", "signal_lost"]
"""What raised an alert: the m-of-n rule, a monitor alarm (PhysioNet/CinC 2015), a technical one."""


class Alert(_Wire):
    """``ecg.alerts``: an alarm of one patient.

    ``anomaly_run`` (m of the last n beats anomalous): ``anomalies`` of ``window`` beats,
    ``first_seq``/``last_seq`` their seq (beat mode) or onset samples (continuous).
    A monitor alarm (asystole, bradycardia, tachycardia, ventricular_tachycardia) or a
    technical one (lead_off, signal_lost): ``anomalies`` and ``window`` count the beats of the
    run (0 for a pause or a technical alarm), ``first_seq``/``last_seq`` are signal samples
    (the run's first and last onset; where a pause or technical condition began and where it
    was decided), ``max_score`` is null.
    """

    patient: str
    anomalies: int
    window: int
    first_seq: int
    last_seq: int
    raised_ms: int
    max_score: float | None
    kind: AlertKind = "anomaly_run"
    category: Literal["clinical", "technical"] = "clinical"
    heart_rate_bpm: float | None = Field(None, description="monitor alarms: mean rate of the run")
    detail: str = Field("", max_length=300)


EventKind = Literal["pause", "lead_off", "signal_lost"]


class SignalEvent(_Wire):
    """``ecg.events``: what a worker sees in a patient's signal besides beats (continuous mode).

    ``pause`` (clinical): no beat for ``ECG_ALARM_ASYSTOLE_S`` while frames keep arriving;
    ``lead_off`` (technical): a flat or saturated signal; ``signal_lost`` (technical): no frame
    of the patient for ``ECG_SIGNAL_LOST_S``. Each has a ``start`` and an ``end`` record.
    """

    patient: str
    kind: EventKind
    category: Literal["clinical", "technical"]
    phase: Literal["start", "end"]
    since_sample: int | None = Field(
        None, description="signal sample where the condition began (pause: the last beat "
        "boundary; lead_off: the first flat or stuck sample; signal_lost: the last sample)")
    at_sample: int | None = Field(None, description="signal sample when it was decided")
    duration_ms: float = Field(description="how long it has lasted (start) or lasted (end)")
    fs: float | None = None
    detail: str = Field("", max_length=300)
    sent_ms: int = Field(description="send time of the patient's newest frame")
    published_ms: int
    worker: str = ""
