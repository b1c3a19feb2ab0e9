"""The float32 binary variant of the input messages (``ecg.beats`` and ``ecg.signal``).

JSON stays the reference encoding; this variant carries the same fields in a fixed
little-endian layout (597 bytes for a replayed 140-sample beat against about 1,600 as
JSON) and decodes with one ``numpy.frombuffer``. A topic may mix both: a JSON value starts
with ``{`` (or whitespace), a binary one with the 4-byte magic.

Layout (all integers unsigned, little-endian; ``L`` = patient id length, ``n`` = samples)::

    beat  (ecg.beats):  "ECGB" | u8 version=1 | u8 L | patient (L bytes, UTF-8)
                        | u64 seq | u64 sent_ms | u16 n | n x float32 samples
    frame (ecg.signal): "ECGF" | u8 version=1 | u8 L | patient (L bytes, UTF-8)
                        | u64 frame_seq | u64 start_sample | f64 fs | u64 sent_ms
                        | u16 n | n x float32 samples
    frame, version 2:   "ECGF" | u8 version=2 | u8 L | patient (L bytes, UTF-8)
                        | u64 frame_seq | u64 start_sample | f64 fs | u64 sent_ms
                        | u8 flags | u16 n | n x float32
                        flags: bit 0 known_to_model; bits 1-3 units (0 not stated,
                        1 mV, 2 uV, 3 V, 4 ADC counts); bits 4-7 zero

The rules are those of the JSON schemas (patient 1-128 bytes of UTF-8, samples finite, 8-4096
per beat and 1-4096 per frame, ``fs`` finite and positive, integers at most 2**63 - 1); a
value must end exactly after its last sample.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from numpy.typing import NDArray

from stream.wire.schemas import (
    FRAME_UNITS,
    MAX_INT,
    MAX_PATIENT_BYTES,
    SCHEMA_VERSION,
    BeatMessage,
    FrameMessage,
    FrameUnits,
)

BEAT_MAGIC, FRAME_MAGIC = b"ECGB", b"ECGF"
MAGIC_PREFIX = b"ECG"
_HEAD = struct.Struct("<4sBB")
_BEAT = struct.Struct("<QQH")
_FRAME = struct.Struct("<QQdQH")
_FRAME_V2 = struct.Struct("<QQdQBH")
_F32 = np.dtype("<f4")
_UNIT_CODE: dict[str, int] = {name: code for code, name in enumerate(FRAME_UNITS, start=1)}
_UNIT_NAME: dict[int, FrameUnits] = dict(enumerate(FRAME_UNITS, start=1))
MAX_PATIENT = MAX_PATIENT_BYTES


class BinaryError(ValueError):
    """A binary value that breaks the layout or the schema's rules; ``reason`` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def is_binary(value: bytes) -> bool:
    """Whether ``value`` claims the binary variant (starts with the magic prefix)."""
    return value[:3] == MAGIC_PREFIX


def _head(patient: str, magic: bytes, version: int = SCHEMA_VERSION) -> bytes:
    pid = patient.encode()
    if not 1 <= len(pid) <= MAX_PATIENT:
        msg = f"patient id must be 1-{MAX_PATIENT} bytes of UTF-8"
        raise ValueError(msg)
    return _HEAD.pack(magic, version, len(pid)) + pid


def sample_bytes(samples: NDArray[np.floating]) -> bytes:
    """Samples as little-endian float32 bytes (cache these to replay a beat many times)."""
    return np.ascontiguousarray(samples, dtype=_F32).tobytes()


def encode_beat(patient: str, seq: int, samples: NDArray[np.floating] | bytes,
                sent_ms: int) -> bytes:
    """A binary ``ecg.beats`` value; ``samples`` may be :func:`sample_bytes` already."""
    data = samples if isinstance(samples, bytes) else sample_bytes(samples)
    return _head(patient, BEAT_MAGIC) + _BEAT.pack(seq, sent_ms, len(data) // 4) + data


def encode_frame(patient: str, frame_seq: int, start_sample: int, fs: float,
                 samples: NDArray[np.floating], sent_ms: int,
                 known_to_model: bool = False, units: str | None = None) -> bytes:
    """A binary ``ecg.signal`` value; version 2 (with flags) for ``known_to_model``/``units``."""
    data = sample_bytes(samples)
    flags = int(known_to_model) | (_UNIT_CODE[units] << 1 if units else 0)
    if flags:
        return (_head(patient, FRAME_MAGIC, 2)
                + _FRAME_V2.pack(frame_seq, start_sample, fs, sent_ms, flags, len(data) // 4)
                + data)
    return (_head(patient, FRAME_MAGIC)
            + _FRAME.pack(frame_seq, start_sample, fs, sent_ms, len(data) // 4) + data)


def _split(value: bytes, magic: bytes, bodies: dict[int, struct.Struct]
           ) -> tuple[str, int, tuple[int | float, ...], NDArray[np.float32]]:
    if len(value) < _HEAD.size:
        raise BinaryError(reason="malformed_binary",
                          detail=f"{len(value)} bytes: shorter than the header")
    found, version, size = _HEAD.unpack_from(value)
    if found != magic:
        kind = {BEAT_MAGIC: "a beat", FRAME_MAGIC: "a frame"}.get(found, f"magic {found!r}")
        raise BinaryError(reason="unknown_schema", detail=f"expected {magic!r}, found {kind}")
    if version not in bodies:
        detail = f"binary version {version}, expected {' or '.join(map(str, bodies))}"
        raise BinaryError(reason="unknown_schema", detail=detail)
    body = bodies[version]
    start = _HEAD.size + size
    if size > MAX_PATIENT:
        detail = f"patient id of {size} bytes, at most {MAX_PATIENT}"
        raise BinaryError(reason="invalid_value", detail=detail)
    if size == 0 or len(value) < start + body.size:
        raise BinaryError(reason="malformed_binary", detail=f"{len(value)} bytes: truncated header")
    try:
        patient = value[_HEAD.size:start].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BinaryError(reason="malformed_binary", detail=f"patient id: {exc}") from None
    fields = body.unpack_from(value, start)
    if any(isinstance(f, int) and f > MAX_INT for f in fields):
        raise BinaryError(reason="invalid_value", detail=f"an integer field above {MAX_INT}")
    count = int(fields[-1])
    data = start + body.size
    if len(value) != data + 4 * count:
        detail = f"{len(value)} bytes, header says {data + 4 * count} ({count} samples)"
        raise BinaryError(reason="malformed_binary", detail=detail)
    samples = np.frombuffer(value, dtype=_F32, count=count, offset=data)
    if not np.isfinite(samples).all():
        raise BinaryError(reason="non_finite", detail="samples: NaN or infinity")
    return patient, version, fields, samples


def _check_length(count: int, low: int) -> None:
    if not low <= count <= 4096:
        raise BinaryError(reason="wrong_length", detail=f"samples: {count}, expected {low}-4096")


def beat_fields(value: bytes) -> tuple[str, int, int, NDArray[np.float32]]:
    """A binary ``ecg.beats`` value's patient, seq, sent_ms and samples (a read-only view).

    Checked as :func:`parse_beat` checks it, without building a message; raises
    :class:`BinaryError`.
    """
    patient, _, (seq, sent_ms, count), samples = _split(value, BEAT_MAGIC,
                                                        {SCHEMA_VERSION: _BEAT})
    _check_length(int(count), 8)
    return patient, int(seq), int(sent_ms), samples


def parse_beat(value: bytes) -> BeatMessage:
    """A binary ``ecg.beats`` value as a :class:`BeatMessage`, or :class:`BinaryError`."""
    patient, seq, sent_ms, samples = beat_fields(value)
    # Checked above as the JSON schema would; model_construct skips re-validating 140 floats.
    return BeatMessage.model_construct(schema_=SCHEMA_VERSION, patient=patient, seq=seq,
                                       samples=samples.tolist(), sent_ms=sent_ms)


def parse_frame(value: bytes) -> FrameMessage:
    """A binary ``ecg.signal`` value as a :class:`FrameMessage`, or :class:`BinaryError`."""
    patient, version, fields, samples = _split(value, FRAME_MAGIC,
                                               {SCHEMA_VERSION: _FRAME, 2: _FRAME_V2})
    flags = 0
    if version == 2:
        frame_seq, start_sample, fs, sent_ms, flag_byte, count = fields
        flags = int(flag_byte)
        if flags & ~0x0F or (flags >> 1 and flags >> 1 not in _UNIT_NAME):
            raise BinaryError(reason="invalid_value", detail=f"flags {flags:#04x}: unknown bits")
    else:
        frame_seq, start_sample, fs, sent_ms, count = fields
    _check_length(int(count), 1)
    if not (math.isfinite(fs) and fs > 0):
        raise BinaryError(reason="invalid_value", detail=f"fs: {fs}, expected a finite rate > 0")
    return FrameMessage.model_construct(
        schema_=2 if version == 2 else 1, patient=patient, frame_seq=int(frame_seq),
        start_sample=int(start_sample), fs=float(fs), samples=samples.tolist(),
        sent_ms=int(sent_ms), known_to_model=bool(flags & 1), units=_UNIT_NAME.get(flags >> 1))
