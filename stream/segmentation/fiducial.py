"""Beat-boundary detection for continuous mode: a matched filter learned from training beats.

ECG5000 beats start just before the S trough of the QRS complex, so the start of a normal
beat is a steep fall to a deep trough followed by a flat ST segment. The detector correlates
the signal with the mean of the first :data:`TEMPLATE_LENGTH` samples of the TRAIN normal
beats (a matched filter, amplitude-sensitive so that flat stretches do not match), keeps the
peaks above a learned height that are at least a refractory period apart, and places each
onset at ``fiducial - offset * beat_length``. The learned values ship in ``fiducial.json``,
produced by::

    python -m tools.segment_eval learn --data-dir ../shared/data/ecg5000 \
        --out stream/segmentation/fiducial.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy import signal

from models.preprocess import BEAT_LENGTH, resample_beat

TEMPLATE_LENGTH = 40
FIDUCIAL_JSON = Path(__file__).with_name("fiducial.json")


@dataclass(frozen=True)
class Fiducial:
    """Learned detector parameters, all in samples at the reference rate ``fs``.

    Attributes:
        template: zero-mean, unit-norm matched filter, shape ``(TEMPLATE_LENGTH,)``.
        offset: where the fiducial (filter peak) sits in a beat, as a fraction of its length.
        height: smallest filter output accepted as a beat start (z-normalized units).
        refractory: shortest beat, as a fraction of ``beat_length``.
        fill: an interval longer than ``fill`` median beats gets boundaries inserted.
        beat_length: nominal beat length, samples (140).
        fs: reference sampling rate, Hz, at which one beat spans ``beat_length`` samples.
        beat_templates: TRAIN class means (zero-mean, unit-norm), shape ``(classes, 140)``,
            for the whole-beat refinement of :mod:`stream.segmentation.beatfit`; empty: no
            refinement.
        refine_radius: largest move of a detected and of an interpolated boundary by the
            refinement, as fractions of ``beat_length``.
    """

    template: tuple[float, ...]
    offset: float
    height: float
    refractory: float = 100 / BEAT_LENGTH
    fill: float = 1.6
    beat_length: int = BEAT_LENGTH
    fs: float = 140.0
    beat_templates: tuple[tuple[float, ...], ...] = ()
    refine_radius: tuple[float, float] = (15 / BEAT_LENGTH, 40 / BEAT_LENGTH)

    def scaled(self, fs: float) -> tuple[NDArray[np.float64], int]:
        """The template and refractory period (samples) at sampling rate ``fs`` (Hz)."""
        ratio = fs / self.fs
        base = np.asarray(self.template, dtype=np.float64)
        size = max(8, round(base.size * ratio))
        template = resample_beat(base, size) if size != base.size else base
        template = template - template.mean()
        template /= np.linalg.norm(template)
        refractory = max(1, round(self.refractory * self.beat_length * ratio))
        return template, refractory


def matched_filter(values: NDArray[np.floating], template: NDArray[np.float64]) -> NDArray:
    """Correlate each window (its mean removed) with the template.

    Args:
        values: shape ``(n,)``, the signal.
        template: shape ``(m,)``, zero-mean unit-norm.

    Returns:
        float64, shape ``(max(n - m + 1, 0),)``: output ``i`` covers samples ``i .. i+m-1``.
    """
    if values.size < template.size:
        return np.empty(0)
    windows = sliding_window_view(np.asarray(values, dtype=np.float64), template.size)
    return windows @ template - windows.mean(axis=1) * template.sum()


def find_fiducials(
    values: NDArray[np.floating], template: NDArray[np.float64], height: float, refractory: int
) -> NDArray[np.intp]:
    """Indices of matched-filter peaks above ``height``, at least ``refractory`` apart.

    Args:
        values: shape ``(n,)``, the signal.
        template: zero-mean unit-norm matched filter.
        height: smallest accepted filter output.
        refractory: smallest distance between peaks, samples.

    Returns:
        Sorted indices into ``values`` (the first sample of the matching window).
    """
    score = matched_filter(values, template)
    if score.size == 0:
        return np.empty(0, dtype=np.intp)
    # A sentinel on the left lets the very first sample be a peak (a stream starting on a beat).
    padded = np.concatenate([[min(score[0], height) - 1.0], score])
    peaks, _ = signal.find_peaks(padded, height=height, distance=refractory)
    return peaks - 1


def learn_fiducial(beats: NDArray[np.floating], height_factor: float = 0.4) -> Fiducial:
    """Learn the matched filter, the fiducial offset and the height from normal beats.

    Args:
        beats: shape ``(n, 140)``, z-normalized normal (class 1) TRAIN beats.
        height_factor: accepted height as a fraction of the median peak on these beats.

    Returns:
        The learned parameters.
    """
    values = np.asarray(beats, dtype=np.float64)
    template = values[:, :TEMPLATE_LENGTH].mean(axis=0)
    template -= template.mean()
    template /= np.linalg.norm(template)
    scores = np.stack([matched_filter(beat, template) for beat in values])
    positions = scores.argmax(axis=1)
    return Fiducial(
        template=tuple(float(v) for v in np.round(template, 6)),
        offset=float(np.median(positions)) / values.shape[1],
        height=round(float(height_factor * np.median(scores.max(axis=1))), 4),
        beat_length=int(values.shape[1]),
    )


def save_fiducial(fiducial: Fiducial, path: Path,
                  provenance: dict[str, object] | None = None) -> None:
    """Write the parameters as readable JSON, with where they come from (``provenance``)."""
    body: dict[str, object] = asdict(fiducial)
    if provenance is not None:
        body["provenance"] = provenance
    path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def load_fiducial(path: Path = FIDUCIAL_JSON) -> Fiducial:
    """Read parameters written by :func:`save_fiducial` (the shipped ones by default)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("provenance", None)
    data["template"] = tuple(data["template"])
    data["refine_radius"] = tuple(data.get("refine_radius", Fiducial.refine_radius))
    data["beat_templates"] = tuple(tuple(row) for row in data.get("beat_templates", ()))
    return Fiducial(**data)
