"""Beats of a user's recordings for training: cut as the worker cuts, labelled, in time.

Each recording (WFDB, EDF or CSV through :func:`producers.records.read_recording`) goes
through the worker's segmenter (:func:`stream.runs.record_offline.cut_beats`), so the model
learns the beats it will be given. A beat takes the symbol of the reference beat annotation
matched to its R peak (one-to-one, within 150 ms, as EC57 matches), or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from producers.record_replay import RecordReplayOptions, prepare
from producers.records import read_recording
from stream.runs.ec57 import MATCH_TOLERANCE_S
from stream.runs.record_offline import cut_beats
from stream.segmentation.quality import match_onsets
from stream.settings import Settings

NORMAL_SYMBOL = "N"


@dataclass(frozen=True)
class RecordBeats:
    """The beats of one recording, in time order.

    Attributes:
        source: the recording's path and lead.
        beats: float32 ``(n, 140)``, z-normalized as the worker feeds the model.
        times_s: each beat's R peak (its onset without one), seconds of the recording.
        symbols: the matched reference annotation's symbol, or ``""`` (none, or no
            annotations).
        annotated: whether the recording had beat annotations.
    """

    source: str
    beats: NDArray[np.float32]
    times_s: NDArray[np.float64]
    symbols: tuple[str, ...]
    annotated: bool

    def window(self, start_s: float, end_s: float | None) -> NDArray[np.bool_]:
        """Beats with ``start_s <= time < end_s`` (no end: to the end)."""
        end = np.inf if end_s is None else end_s
        return (self.times_s >= start_s) & (self.times_s < end)

    def labelled(self, symbol: str) -> NDArray[np.bool_]:
        """Beats annotated with ``symbol``."""
        return np.array([s == symbol for s in self.symbols], dtype=bool)


def record_beats(settings: Settings, path: str | Path, lead: str | None = None) -> RecordBeats:
    """Cut ``path``'s beats (lead ``lead``, default the reader's) with the worker's segmenter."""
    recording = prepare(read_recording(path, lead), RecordReplayOptions())
    cut = cut_beats(settings, recording, RecordReplayOptions())
    fs = recording.fs
    beats = cut.beats
    peaks = np.array([b.fiducial_sample if b.fiducial_sample is not None else b.onset_sample or 0
                      for b in beats], dtype=np.int64)
    references = recording.beats
    symbols = [""] * len(beats)
    if references:
        truth = np.array([a.sample for a in references], dtype=np.int64)
        for i, j in match_onsets(truth, peaks, round(MATCH_TOLERANCE_S * fs)):
            symbols[j] = references[i].symbol
    samples = (np.stack([b.samples for b in beats]).astype(np.float32) if beats
               else np.zeros((0, 140), np.float32))
    return RecordBeats(f"{recording.source}:{recording.lead}", samples, peaks / fs,
                       tuple(symbols), bool(references))
