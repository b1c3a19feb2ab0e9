"""Turn raw input records into validated messages or dead letters: the one owner of parsing.

Values arrive as raw bytes (the Faust topics use the ``raw`` serializer) so that a bad record
can never wedge the consumer (aiokafka #744) and always becomes a dead letter with a reason.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TypeVar, overload

from pydantic import ValidationError

from stream.wire.binary import BinaryError, is_binary, parse_beat, parse_frame
from stream.wire.schemas import SCHEMA_VERSION, BeatMessage, DeadLetter, FrameMessage

M = TypeVar("M", BeatMessage, FrameMessage)
PAYLOAD_ECHO_BYTES = 2048
KEY_ECHO_BYTES = 256
"""A dead letter echoes at most the first 2 KiB of the value and 256 bytes of the key, so its
size is bounded (about 12 KB at most) whatever the input record was."""


@dataclass(frozen=True)
class RawInput:
    """One consumed Kafka record, before any parsing."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    received_ms: int


def dead_letter(raw: RawInput, reason: str, detail: str = "", worker: str = "") -> DeadLetter:
    """A dead-letter record for ``raw``: where it came from, why, and its payload (capped)."""
    value = raw.value or b""
    head = value[:PAYLOAD_ECHO_BYTES]
    binary = is_binary(value)
    return DeadLetter(
        reason=reason, detail=detail[:1000], source_topic=raw.topic, partition=raw.partition,
        offset=raw.offset,
        key=_echo(raw.key[:KEY_ECHO_BYTES]) if raw.key is not None else None,
        payload=base64.b64encode(head).decode() if binary else _echo(head),
        payload_encoding="base64" if binary else "utf-8",
        payload_bytes=len(value), received_ms=raw.received_ms, worker=worker)


def _echo(data: bytes) -> str:
    """UTF-8 text with invalid bytes escaped (``\\xNN``); a cut multi-byte tail is escaped too."""
    return data.decode("utf-8", "backslashreplace")


def _reason(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    kind, where = first["type"], ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if kind == "json_invalid":
        return "invalid_json", detail
    if kind == "model_type" or (kind == "model_attributes_type"):
        return "not_an_object", detail
    if where == "schema":
        return ("missing_field" if kind == "missing" else "unknown_schema"), detail
    if kind == "missing":
        return "missing_field", detail
    if kind == "extra_forbidden":
        return "unknown_field", detail
    if where.startswith("samples") and kind in ("too_short", "too_long"):
        return "wrong_length", detail
    if kind == "finite_number":
        return "non_finite", detail
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "wrong_type", detail
    return "invalid_value", detail


def decode(raw: RawInput, model: type[M], max_bytes: int) -> M | DeadLetter:
    """Parse ``raw.value`` as ``model`` (BeatMessage or FrameMessage) or explain why not.

    The value is JSON or the float32 binary variant (:mod:`stream.wire.binary`, told apart by its
    magic prefix). The key must be the patient id: a mismatched key would break per-patient
    ordering.
    """
    value = raw.value
    if not value:
        return dead_letter(raw, "empty_payload")
    if len(value) > max_bytes:
        return dead_letter(raw, "payload_too_large", f"{len(value)} bytes > {max_bytes}")
    if is_binary(value):
        try:
            message = _parse_binary(model, value)
        except BinaryError as exc:
            return dead_letter(raw, exc.reason, exc.detail)
    else:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return dead_letter(raw, "not_utf8", str(exc))
        try:
            message = model.model_validate_json(value)
        except ValidationError as exc:
            return dead_letter(raw, *_reason(exc))
    patient = message.patient
    if raw.key is None:
        return dead_letter(raw, "key_mismatch", f"no key; the key must be the patient {patient!r}")
    if raw.key != patient.encode():
        return dead_letter(raw, "key_mismatch", f"key {raw.key[:200]!r} != patient {patient!r}")
    return message


@overload
def _parse_binary(model: type[BeatMessage], value: bytes) -> BeatMessage: ...
@overload
def _parse_binary(model: type[FrameMessage], value: bytes) -> FrameMessage: ...
def _parse_binary(model: type[BeatMessage | FrameMessage], value: bytes
                  ) -> BeatMessage | FrameMessage:
    """The binary variant of ``model``'s message (:mod:`stream.wire.binary`)."""
    return parse_beat(value) if model is BeatMessage else parse_frame(value)


def decode_beat(raw: RawInput, max_bytes: int) -> BeatMessage | DeadLetter:
    """Decode one ``ecg.beats`` record."""
    return decode(raw, BeatMessage, max_bytes)


def decode_frame(raw: RawInput, max_bytes: int) -> FrameMessage | DeadLetter:
    """Decode one ``ecg.signal`` record."""
    return decode(raw, FrameMessage, max_bytes)


__all__ = ["SCHEMA_VERSION", "RawInput", "dead_letter", "decode", "decode_beat", "decode_frame"]
