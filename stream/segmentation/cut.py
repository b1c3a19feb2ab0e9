"""Where a beat is cut relative to its detected R peak: the convention the model was trained on.

ECG5000 beats start on the QRS down-slope, a few samples before their dominant deflection
(a deep negative S trough). :func:`learn_cut` measures that offset with the online QRS
detector on stitched ECG5000 TRAIN normal beats, whose true onsets are known; the value is
frozen in ``cut.json`` (with its provenance) and only then used on real recordings::

    python -m tools.segment_eval learn-cut --data-dir ../shared/data/ecg5000 \\
        --out stream/segmentation/cut.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from stream.segmentation.qrs import QrsDetector

CUT_JSON = Path(__file__).with_name("cut.json")


@dataclass(frozen=True)
class CutConvention:
    """How beats are cut around R peaks.

    Attributes:
        offset_s: beat onset minus its R peak, seconds (negative: the beat starts before).
        polarity: sign of the dominant QRS deflection in the training beats (ECG5000: -1);
            beats of a patient whose dominant deflection has the other sign are flipped.
    """

    offset_s: float
    polarity: int = -1


def learn_cut(signal: NDArray[np.floating], onsets: NDArray[np.integer], fs: float,
              tolerance_s: float = 0.15) -> tuple[CutConvention, dict[str, float]]:
    """The median onset - R peak offset of the beats found within ``tolerance_s``.

    Returns the convention and figures about the fit: beats, R peaks matched, the offset's
    quartiles (seconds).
    """
    detector = QrsDetector(fs)
    x = np.asarray(signal, dtype=np.float64)
    peaks: list[int] = []
    for i in range(0, x.size, 128):
        peaks += detector.push(x[i : i + 128])
    peaks += detector.finish()
    found = np.asarray(peaks, dtype=np.int64)
    true = np.asarray(onsets, dtype=np.int64)
    k = np.clip(np.searchsorted(found, true), 1, max(found.size - 1, 1))
    nearest = np.where(np.abs(found[k] - true) < np.abs(found[k - 1] - true), found[k],
                       found[k - 1])
    offsets = (true - nearest) / fs
    close = offsets[np.abs(offsets) <= tolerance_s]
    q1, median, q3 = (float(v) for v in np.percentile(close, [25, 50, 75]))
    cut = CutConvention(offset_s=round(median, 6), polarity=detector.polarity or -1)
    return cut, {"beats": float(true.size), "matched": float(close.size),
                 "offset_q1_s": q1, "offset_median_s": median, "offset_q3_s": q3}


def save_cut(cut: CutConvention, path: Path, provenance: dict[str, object] | None = None) -> None:
    """Write the convention as readable JSON, with where it comes from."""
    body: dict[str, object] = asdict(cut)
    if provenance is not None:
        body["provenance"] = provenance
    path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def load_cut(path: Path = CUT_JSON) -> CutConvention:
    """Read a convention written by :func:`save_cut` (the shipped one by default)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return CutConvention(offset_s=float(data["offset_s"]), polarity=int(data["polarity"]))
