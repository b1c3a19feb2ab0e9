"""ANSI/AAMI EC57 beat-by-beat evaluation of detected beats against reference annotations.

Pure: takes references and detections as plain data, returns a JSON-ready report dict.
Per patient, detections are matched one-to-one to the reference beats within the tolerance
(``match_onsets``: closest pairs first); Se and +P are gross statistics (counts summed over
patients first), for the whole record and for the part after EC57's learning period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stream.errors import ConfigError
from stream.segmentation.quality import match_onsets

BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
# EC57's classes (de Chazal et al. 2004); B (bundle branch block beat), n (supraventricular
# escape) and r (R-on-T PVC) are not in the MIT-BIH Arrhythmia records it was written for:
# with N, S and V as in the other databases' usual mappings.
AAMI_CLASS: dict[str, str] = {
    **dict.fromkeys("NLRejB", "N"),
    **dict.fromkeys("AaJSn", "S"),
    **dict.fromkeys("VEr", "V"),
    "F": "F",
    **dict.fromkeys("/fQ?", "Q"),
}
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
WINDOWS = ("all", "after_learning")
_COUNTS = ("tp", "fn", "fp", "false_detections_flagged")
_CLASS_COUNTS = ("beats", "detected", "flagged", "morphology", "premature")


@dataclass(frozen=True)
class Reference:
    """One reference annotation: ``sample`` is the annotated R peak in the patient's signal."""

    patient: str
    sample: int
    symbol: str


@dataclass(frozen=True)
class Detection:
    """One detected beat: ``sample`` is its published fiducial (the detected R peak)."""

    patient: str
    sample: int
    anomalous: bool
    premature: bool = False
    morphology: bool = False


MATCH_TOLERANCE_S = 0.150  # EC57: a detection within 150 ms of a reference beat matches it


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


class _Tally:
    """Counts of one window (one patient, or summed over patients)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.classes: dict[str, dict[str, int]] = {
            c: dict.fromkeys(_CLASS_COUNTS, 0) for c in AAMI_CLASSES}
        self.symbols: dict[str, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(_CLASS_COUNTS, 0))

    def beat(self, symbol: str, detection: Detection | None) -> None:
        """Count one reference beat, matched to ``detection`` or missed (None)."""
        self.counts["fn" if detection is None else "tp"] += 1
        rows = [self.symbols[symbol]]
        if symbol in AAMI_CLASS:
            rows.append(self.classes[AAMI_CLASS[symbol]])
        for row in rows:
            row["beats"] += 1
            if detection is not None:
                row["detected"] += 1
                row["flagged"] += int(detection.anomalous)
                row["premature"] += int(detection.premature)
                row["morphology"] += int(detection.morphology)

    def false_detection(self, detection: Detection) -> None:
        """Count one detection that matched no reference beat."""
        self.counts["fp"] += 1
        self.counts["false_detections_flagged"] += int(detection.anomalous)

    def add(self, other: _Tally) -> None:
        """Sum ``other`` into this tally."""
        for key, value in other.counts.items():
            self.counts[key] += value
        for mine, theirs in ((self.classes, other.classes), (self.symbols, other.symbols)):
            for name, row in theirs.items():
                for key, value in row.items():
                    mine[name][key] += value

    def as_dict(self) -> dict[str, Any]:
        """The window's JSON: counts, Se, +P, per AAMI class and per raw symbol."""
        tp, fn, fp = self.counts["tp"], self.counts["fn"], self.counts["fp"]
        return {
            "by_class": {c: dict(sorted(self.classes[c].items())) for c in sorted(self.classes)},
            "by_symbol": {s: dict(sorted(self.symbols[s].items())) for s in sorted(self.symbols)},
            "false_detections_flagged": self.counts["false_detections_flagged"],
            "fn": fn, "fp": fp, "ppv": _ratio(tp, tp + fp), "se": _ratio(tp, tp + fn), "tp": tp,
        }


def _rate(fs: Mapping[str, float] | float, patient: str) -> float:
    if isinstance(fs, Mapping):
        if patient not in fs:
            msg = f"no sampling rate for patient {patient!r}"
            raise ConfigError(msg)
        rate = float(fs[patient])
    else:
        rate = float(fs)
    if not rate > 0:
        msg = f"sampling rate of patient {patient!r} must be positive, not {rate}"
        raise ConfigError(msg)
    return rate


def _patient(beats: list[Reference], found: list[Detection], rate: float, learning_s: float,
             tolerance_s: float) -> dict[str, _Tally]:
    """Match one patient over the whole record; tally both windows."""
    pairs = match_onsets([r.sample for r in beats], [d.sample for d in found],
                         round(tolerance_s * rate))
    partner: dict[int, Detection] = {i: found[j] for i, j in pairs}
    matched = {j for _, j in pairs}
    boundary = learning_s * rate
    tallies = {w: _Tally() for w in WINDOWS}
    for i, ref in enumerate(beats):
        for window in WINDOWS:
            # A pair straddling the boundary belongs to the window of its reference.
            if window == "all" or ref.sample >= boundary:
                tallies[window].beat(ref.symbol, partner.get(i))
    for j, det in enumerate(found):
        if j in matched:
            continue
        for window in WINDOWS:
            if window == "all" or det.sample >= boundary:
                tallies[window].false_detection(det)
    return tallies


def ec57_report(references: Iterable[Reference], detections: Iterable[Detection],
                fs: Mapping[str, float] | float, learning_s: float = 300.0,
                tolerance_s: float = MATCH_TOLERANCE_S) -> dict[str, Any]:
    """EC57 beat-by-beat comparison of ``detections`` with the reference beats.

    References whose symbol is not in ``BEAT_SYMBOLS`` are ignored. Per patient, detections
    are matched to reference beats within ``round(tolerance_s * fs)`` samples, one-to-one:
    TP = pairs, FN = unmatched beats, FP = unmatched detections. The ``after_learning``
    window counts, from the same matching, the beats and the unmatched detections at
    ``sample >= learning_s * fs``; a pair is counted by its reference's sample.

    Args:
        references: reference annotations (any symbols) of all patients.
        detections: detected beats of all patients.
        fs: sampling rate, Hz: one for all patients, or per patient.
        learning_s: length of the learning period at the start of each record, seconds.
        tolerance_s: largest accepted distance between a detection and its beat, seconds.

    Returns:
        ``{"tolerance_s", "learning_s", "overall": {window: ...}, "patients": {pid: {window:
        ...}}}``; each window holds ``tp``, ``fn``, ``fp``, ``se``, ``ppv`` (None without a
        denominator), ``by_class`` (the five AAMI classes) and ``by_symbol`` (the symbols
        present), each with ``beats``, ``detected`` and ``flagged``, and
        ``false_detections_flagged`` (FP detections flagged anomalous). Overall Se and +P
        are gross: from the counts summed over patients.

    Raises:
        ConfigError: a patient without a sampling rate, or a rate that is not positive.
    """
    if tolerance_s < 0 or learning_s < 0:
        msg = f"tolerance_s and learning_s must be >= 0, not {tolerance_s}, {learning_s}"
        raise ConfigError(msg)
    beats: dict[str, list[Reference]] = defaultdict(list)
    for ref in references:
        if ref.symbol in BEAT_SYMBOLS:
            beats[ref.patient].append(ref)
    found: dict[str, list[Detection]] = defaultdict(list)
    for det in detections:
        found[det.patient].append(det)
    overall = {w: _Tally() for w in WINDOWS}
    patients: dict[str, Any] = {}
    for pid in sorted(set(beats) | set(found)):
        tallies = _patient(beats[pid], found[pid], _rate(fs, pid), learning_s, tolerance_s)
        for window in WINDOWS:
            overall[window].add(tallies[window])
        patients[pid] = {w: tallies[w].as_dict() for w in sorted(WINDOWS)}
    return {"learning_s": learning_s,
            "overall": {w: overall[w].as_dict() for w in sorted(WINDOWS)},
            "patients": patients, "tolerance_s": tolerance_s}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def ec57_lines(report: Mapping[str, Any]) -> list[str]:
    """A short summary of ``ec57_report``'s overall result: per window, then per AAMI class."""
    lines = []
    for window in WINDOWS:
        w = report["overall"][window]
        lines.append(f"{window}: Se {_percent(w['se'])} +P {_percent(w['ppv'])} "
                     f"(TP {w['tp']} FN {w['fn']} FP {w['fp']}, "
                     f"{w['false_detections_flagged']} false detections flagged)")
        for name in AAMI_CLASSES:
            row = w["by_class"][name]
            lines.append(f"  {name}: {row['beats']} beats, {row['detected']} detected, "
                         f"{row['flagged']} flagged")
    return lines
