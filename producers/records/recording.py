"""One lead of a real ECG recording (samples, rate, units, annotations) and unit conversion.

Pure: numpy only. The readers in :mod:`producers.records.readers` build these from WFDB,
EDF/EDF+/BDF and CSV files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

BEAT_SYMBOLS: frozenset[str] = frozenset("NLRBAaJSVrFejnE/fQ?")
"""WFDB annotation symbols that mark a beat (the rest: rhythm, noise, comments...)."""

# Physical units: the normalized spelling and the factor to volts.
_TO_VOLTS: dict[str, float] = {"V": 1.0, "mV": 1e-3, "uV": 1e-6}
_SPELLINGS: dict[str, str] = {
    "v": "V", "volt": "V", "volts": "V",
    "mv": "mV", "millivolt": "mV", "millivolts": "mV",
    "uv": "uV", "µv": "uV", "μv": "uV", "microvolt": "uV", "microvolts": "uV",
}
_ADC = "adc"


class RecordError(ValueError):
    """One-line message naming the file and what is wrong."""


def normalize_units(units: str) -> str:
    """Units spelled ``mV``, ``uV`` (also for ``µV``, ``μV``), ``V``; other text stripped."""
    text = units.strip()
    return _SPELLINGS.get(text.lower(), text)


@dataclass(frozen=True)
class Annotation:
    """One annotation: a WFDB symbol (beats: :data:`BEAT_SYMBOLS`) or EDF+ annotation text."""

    sample: int
    symbol: str


@dataclass(frozen=True, eq=False)
class Recording:
    """One lead of a recording, in physical units; NaN where the file marks a sample invalid.

    ``samples`` is stored as a read-only 1-D float64 array; ``annotations`` in sample order.
    ``gain`` is ADC units per physical unit and ``baseline`` the ADC value of 0, when known.
    """

    samples: NDArray[np.float64]
    fs: float
    lead: str
    units: str
    source: str
    annotations: tuple[Annotation, ...] = ()
    gain: float | None = None
    baseline: float | None = None

    def __post_init__(self) -> None:
        samples = np.array(self.samples, dtype=np.float64)
        if samples.ndim != 1:
            msg = f"{self.source}: samples must be 1-D, got shape {samples.shape}"
            raise RecordError(msg)
        if not (np.isfinite(self.fs) and self.fs > 0):
            msg = f"{self.source}: sampling frequency must be positive, got {self.fs}"
            raise RecordError(msg)
        samples.setflags(write=False)
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "fs", float(self.fs))
        object.__setattr__(self, "annotations",
                           tuple(sorted(self.annotations, key=lambda a: a.sample)))

    @property
    def beats(self) -> tuple[Annotation, ...]:
        """The annotations whose symbol is a beat symbol."""
        return tuple(a for a in self.annotations if a.symbol in BEAT_SYMBOLS)

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.fs


def _known(units: str) -> str:
    normalized = normalize_units(units)
    if normalized.lower() == _ADC:
        return _ADC
    if normalized not in _TO_VOLTS:
        msg = f"unknown units {units!r} (known: mV, uV, µV, V, adc)"
        raise RecordError(msg)
    return normalized


def convert_units(values: ArrayLike, from_units: str, to_units: str,
                  gain: float | None = None, baseline: float | None = None) -> NDArray[np.float64]:
    """Convert between mV, uV (also µV, μV), V and ADC counts.

    ADC counts are ``value * gain + baseline`` where ``value`` is in the other (physical) side's
    units, as in a WFDB header: ``gain`` is ADC units per that unit, ``baseline`` defaults to 0.

    Raises:
        RecordError: unknown units, or ``adc`` without a (non-zero) gain.
    """
    source, target = _known(from_units), _known(to_units)
    data = np.asarray(values, dtype=np.float64)
    if source == target:
        return data.copy()
    if _ADC in (source, target) and not gain:
        msg = f"converting {from_units!r} to {to_units!r} needs a non-zero gain"
        raise RecordError(msg)
    scale = float(gain) if gain else 1.0
    offset = 0.0 if baseline is None else float(baseline)
    if source == _ADC:
        return (data - offset) / scale
    if target == _ADC:
        return data * scale + offset
    return data * (_TO_VOLTS[source] / _TO_VOLTS[target])
