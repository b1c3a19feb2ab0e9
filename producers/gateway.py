"""The producer API a device gateway calls: one patient's samples, chunk by chunk, as frames.

:class:`SignalSender` turns chunks of any size into ``ecg.signal`` frames of ``frame_size``
samples, numbering them (``frame_seq``) and placing them in the patient's signal
(``start_sample``). Invalid samples (NaN, as WFDB and EDF readers give them, or a device's
dropout) are not sent: the next frame starts where the valid samples resume, which the worker
counts as a gap (``gap`` in its segmenter events) rather than losing a frame. Example::

    sender = SignalSender(producer, "ecg.signal", "bed-12", fs=250.0, units="mV")
    for chunk in device_chunks():   # any length, any scale (the detector is scale-free)
        sender.send(chunk)
    sender.close()                  # the last, partial frame
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from producers.replay import ProducerLike
from stream.wire.binary import encode_frame
from stream.wire.encode import frame_json
from stream.wire.schemas import FRAME_UNITS, now_ms

Encoding = Literal["json", "f32"]
MAX_FRAME = 4096
"""Largest frame the worker accepts (samples)."""


class SignalSender:
    """Sends one patient's continuous signal as frames; not thread-safe, one per patient.

    Attributes:
        frames_sent: frames sent so far.
        samples_sent: valid samples sent so far.
        samples_skipped: invalid (NaN or infinite) samples left out (gaps).
        known_to_model: frames go out as schema 2 declaring the patient one the model was
            trained on (judged on the calibrated threshold, no learning period); default:
            schema 1, a patient the model does not know.
        units: what the samples are (``mV``, ``uV``, ``V`` or ``adc``), stated in each frame
            (schema 2) for the ward board's strip; None: not stated.
    """

    def __init__(self, producer: ProducerLike, topic: str, patient: str, fs: float,
                 frame_size: int | None = None, encoding: Encoding = "json",
                 start_sample: int = 0, first_seq: int = 0,
                 known_to_model: bool = False, units: str | None = None) -> None:
        if not 0 < fs:
            msg = f"fs must be positive, got {fs}"
            raise ValueError(msg)
        size = frame_size if frame_size is not None else max(1, round(0.25 * fs))
        if not 1 <= size <= MAX_FRAME:
            msg = f"frame_size must be within 1..{MAX_FRAME}, got {size}"
            raise ValueError(msg)
        self.producer, self.topic, self.patient = producer, topic, patient
        self.fs, self.frame_size, self.encoding = float(fs), size, encoding
        if units is not None and units not in FRAME_UNITS:
            msg = f"units must be one of {', '.join(FRAME_UNITS)} or None, got {units!r}"
            raise ValueError(msg)
        self.known_to_model, self.units = known_to_model, units
        self._key = patient.encode()
        self._pending = np.empty(0, dtype=np.float64)
        self._pending_start = start_sample  # signal index of self._pending[0]
        self.position = start_sample  # signal index of the next sample given to send()
        self.next_seq = first_seq
        self.frames_sent = self.samples_sent = self.samples_skipped = 0

    def send(self, samples: ArrayLike) -> int:
        """Queue the next samples of the signal; send every full frame. Returns frames sent."""
        values = np.asarray(samples, dtype=np.float64).ravel()
        sent = 0
        valid = np.isfinite(values)
        if valid.all():
            self._extend(values)
            sent += self._send_full()
        else:
            # Runs of valid samples, each continuing the pending frame or starting after a gap.
            edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
            cursor = 0
            for lo, hi in zip(edges[::2], edges[1::2], strict=True):
                if lo > cursor:
                    sent += self._gap(int(lo - cursor))
                self._extend(values[lo:hi])
                sent += self._send_full()
                cursor = int(hi)
            if cursor < values.size:
                sent += self._gap(values.size - cursor)
        return sent

    def close(self) -> int:
        """Send the last, partial frame (if any). Returns frames sent (0 or 1)."""
        return self._emit(self._pending.size) if self._pending.size else 0

    def _extend(self, values: NDArray[np.float64]) -> None:
        if self._pending.size == 0:
            self._pending_start = self.position
        self._pending = np.concatenate([self._pending, values])
        self.position += values.size

    def _gap(self, n: int) -> int:
        """``n`` invalid samples: the pending frame goes now; the next starts after them."""
        sent = self._emit(self._pending.size) if self._pending.size else 0
        self.position += n
        self._pending_start = self.position
        self.samples_skipped += n
        return sent

    def _send_full(self) -> int:
        sent = 0
        while self._pending.size >= self.frame_size:
            sent += self._emit(self.frame_size)
        return sent

    def _emit(self, n: int) -> int:
        chunk, self._pending = self._pending[:n], self._pending[n:]
        start = self._pending_start
        self._pending_start += n
        sent_ms = now_ms()
        if self.encoding == "f32":
            value = encode_frame(self.patient, self.next_seq, start, self.fs, chunk, sent_ms,
                                 self.known_to_model, self.units)
        else:
            value = frame_json(self.patient, self.next_seq, start, self.fs, chunk, sent_ms,
                               self.known_to_model, self.units)
        self.producer.send(self.topic, key=self._key, value=value)
        self.next_seq += 1
        self.frames_sent += 1
        self.samples_sent += n
        return 1
