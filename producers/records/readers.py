"""Readers of real ECG recordings: WFDB, EDF/EDF+/BDF and CSV, one lead at a time.

The format follows the suffix: ``.hea``/``.dat``, or no suffix with a sibling ``.hea`` ->
WFDB; ``.edf``/``.bdf`` -> EDF(+)/BDF; ``.csv`` -> CSV. Every failure (missing file, unknown
lead, corrupt file, bad cell, no sampling frequency) raises :class:`RecordError` with a
one-line message naming the file.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import edfio
import numpy as np
import wfdb

from producers.records.recording import (
    Annotation,
    RecordError,
    Recording,
    convert_units,
    normalize_units,
)

_WFDB_SUFFIXES = (".hea", ".dat")
_EDF_SUFFIXES = (".edf", ".bdf")
_TIME_COLUMNS = ("time", "time_s")
_FS_RTOL = 1e-6


def _fail(path: Path | str, what: str) -> RecordError:
    """A RecordError ``'<path>: <what>'`` on one line."""
    return RecordError(" ".join(f"{path}: {what}".split()))


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _format(path: Path) -> tuple[str, Path]:
    """The format (``wfdb``, ``edf``, ``bdf``, ``csv``) and the path to open (WFDB: no suffix)."""
    suffix = path.suffix.lower()
    if suffix in _WFDB_SUFFIXES:
        record = path.with_suffix("")
        if not record.with_suffix(".hea").is_file():
            raise _fail(path, f"no WFDB header {record.with_suffix('.hea').name}")
        return "wfdb", record
    if suffix in _EDF_SUFFIXES or suffix == ".csv":
        if not path.is_file():
            raise _fail(path, "no such file")
        return suffix[1:], path
    if Path(f"{path}.hea").is_file():
        return "wfdb", path
    if not path.exists():
        raise _fail(path, "no such file (nor a WFDB record with a .hea)")
    raise _fail(path, "unknown format (expected .hea/.dat, .edf, .bdf or .csv)")


def _pick(path: Path | str, leads: Sequence[str], lead: str | int | None) -> int:
    """The index of ``lead`` (a name or a 0-based index; None: the first) among ``leads``."""
    available = ", ".join(leads) or "none"
    if not leads:
        raise _fail(path, "no leads in the file")
    if lead is None:
        return 0
    if isinstance(lead, bool) or not isinstance(lead, int | str):
        raise _fail(path, f"lead must be a name or an index, got {lead!r}")
    if isinstance(lead, int):
        if 0 <= lead < len(leads):
            return lead
        raise _fail(path, f"no lead index {lead} ({len(leads)} leads: {available})")
    if lead in leads:
        return list(leads).index(lead)
    folded = [i for i, name in enumerate(leads) if name.strip().casefold() == lead.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise _fail(path, f"no lead {lead!r}; available: {available}")


def _check_fs(path: Path | str, file_fs: float, fs: float | None) -> None:
    if fs is not None and not math.isclose(fs, file_fs, rel_tol=_FS_RTOL):
        raise _fail(path, f"fs={fs:g} Hz given but the file says {file_fs:g} Hz")


def _to_units(recording: Recording, units: str | None) -> Recording:
    """``recording`` converted to ``units`` (WFDB/EDF), the gain rescaled to match."""
    if units is None or normalize_units(units) == recording.units:
        return recording
    try:
        samples = convert_units(recording.samples, recording.units, units)
        per_unit = float(convert_units(np.array(1.0), units, recording.units))
    except RecordError as exc:
        raise _fail(recording.source, str(exc)) from exc
    gain = None if recording.gain is None else recording.gain * per_unit
    return Recording(samples, recording.fs, recording.lead, normalize_units(units),
                     recording.source, recording.annotations, gain, recording.baseline)


# --- WFDB -------------------------------------------------------------------------------

def _wfdb_header(path: Path, record: Path) -> wfdb.Record:
    try:
        return wfdb.rdheader(str(record))
    except Exception as exc:  # wfdb raises many kinds on a bad header
        raise _fail(path, f"unreadable WFDB header ({_cause(exc)})") from exc


def _wfdb_leads(path: Path, record: Path) -> list[str]:
    return [str(name) for name in (_wfdb_header(path, record).sig_name or [])]


def _read_wfdb(path: Path, record: Path, lead: str | int | None, fs: float | None) -> Recording:
    header = _wfdb_header(path, record)
    index = _pick(path, [str(n) for n in (header.sig_name or [])], lead)
    _check_fs(path, float(header.fs), fs)
    try:
        rec = wfdb.rdrecord(str(record), channels=[index], physical=True, return_res=64)
    except Exception as exc:  # wfdb raises many kinds on a bad signal file
        raise _fail(path, f"unreadable WFDB record ({_cause(exc)})") from exc
    if rec.p_signal is None or rec.p_signal.ndim != 2 or rec.p_signal.shape[1] != 1:
        raise _fail(path, "WFDB record has no physical signal")
    annotations: tuple[Annotation, ...] = ()
    if record.with_suffix(".atr").is_file() or Path(f"{record}.atr").is_file():
        try:
            ann = wfdb.rdann(str(record), "atr")
        except Exception as exc:  # wfdb raises many kinds on a bad .atr
            atr = f"{record}.atr"
            raise _fail(atr, f"unreadable WFDB annotations ({_cause(exc)})") from exc
        annotations = tuple(Annotation(int(s), str(sym))
                            for s, sym in zip(ann.sample, ann.symbol, strict=True))
    units = str(rec.units[0]) if rec.units and rec.units[0] else "mV"  # WFDB's default
    gain = float(rec.adc_gain[0]) if rec.adc_gain and rec.adc_gain[0] else None
    baseline = float(rec.baseline[0]) if rec.baseline and gain is not None else None
    return Recording(rec.p_signal[:, 0], float(rec.fs), str(rec.sig_name[0]),
                     normalize_units(units), str(path), annotations, gain, baseline)


# --- EDF / EDF+ / BDF -------------------------------------------------------------------

def _open_edf(path: Path, kind: str) -> edfio.Edf | edfio.Bdf:
    try:
        if kind == "bdf":
            return edfio.read_bdf(path)
        return edfio.read_edf(path, lazy_load_data=True)
    except Exception as exc:  # edfio raises many kinds on a corrupt file
        raise _fail(path, f"unreadable {kind.upper()} file ({_cause(exc)})") from exc


def _read_edf(path: Path, kind: str, lead: str | int | None, fs: float | None) -> Recording:
    edf = _open_edf(path, kind)
    signals = edf.signals
    index = _pick(path, [s.label for s in signals], lead)
    signal = signals[index]
    file_fs = float(signal.sampling_frequency)
    _check_fs(path, file_fs, fs)
    try:
        samples = np.asarray(signal.data, dtype=np.float64)
        texts = [(a.onset, a.text) for a in edf.annotations]
    except Exception as exc:  # lazy data: a truncated file fails here
        raise _fail(path, f"unreadable {kind.upper()} data ({_cause(exc)})") from exc
    annotations = tuple(Annotation(round(onset * file_fs), text) for onset, text in texts)
    p_min, p_max = signal.physical_range
    d_min, d_max = signal.digital_range
    gain = baseline = None
    if p_max != p_min:
        gain = (d_max - d_min) / (p_max - p_min)
        baseline = d_min - p_min * gain
    return Recording(samples, file_fs, signal.label, normalize_units(signal.physical_dimension),
                     str(path), annotations, gain, baseline)


# --- CSV --------------------------------------------------------------------------------

def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(path, f"unreadable CSV ({_cause(exc)})") from exc
    if not rows:
        raise _fail(path, "empty CSV (expected a header row with a column per lead)")
    return [name.strip() for name in rows[0]], rows[1:]


def _has_time(header: Sequence[str]) -> bool:
    return bool(header) and header[0].lower() in _TIME_COLUMNS


def _csv_leads(header: Sequence[str]) -> list[str]:
    return list(header[1:] if _has_time(header) else header)


def _column(path: Path, rows: list[list[str]], col: int, name: str) -> np.ndarray:
    values = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        if col >= len(row):
            raise _fail(path, f"row {i + 2} has {len(row)} cells, no column {name!r}")
        cell = row[col].strip()
        if not cell or cell.lower() == "nan":
            values[i] = np.nan
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            raise _fail(path, f"row {i + 2}, column {name!r}: not a number: {cell!r}") from None
    return values


def _fs_from_time(path: Path, time: np.ndarray) -> float:
    """The sampling frequency of a uniform, increasing time column (seconds)."""
    if len(time) < 2 or not np.all(np.isfinite(time)):
        raise _fail(path, "the time column needs at least 2 rows, all numbers")
    step = (time[-1] - time[0]) / (len(time) - 1)
    if not step > 0:
        raise _fail(path, "the time column does not increase")
    grid = time[0] + step * np.arange(len(time))
    if np.max(np.abs(time - grid)) > 0.5 * step:
        raise _fail(path, "the time column is not uniformly sampled")
    return float(round(1.0 / step, 6))


def _read_csv(path: Path, lead: str | int | None, fs: float | None,
              units: str | None) -> Recording:
    header, rows = _csv_rows(path)
    leads = _csv_leads(header)
    index = _pick(path, leads, lead)
    offset = 1 if _has_time(header) else 0
    if not rows:
        raise _fail(path, "no data rows")
    if offset:
        time_fs = _fs_from_time(path, _column(path, rows, 0, header[0]))
        if fs is not None and not math.isclose(fs, time_fs, rel_tol=1e-3):
            raise _fail(path, f"fs={fs:g} Hz given but the time column says {time_fs:g} Hz")
        fs = time_fs if fs is None else fs
    if fs is None:
        raise _fail(path, "CSV needs fs= (or a first column 'time'/'time_s' in seconds)")
    if not (math.isfinite(fs) and fs > 0):
        raise _fail(path, f"fs must be positive, got {fs}")
    samples = _column(path, rows, index + offset, leads[index])
    return Recording(samples, float(fs), leads[index], normalize_units(units or "mV"), str(path))


# --- public -----------------------------------------------------------------------------

def read_recording(path: str | Path, lead: str | int | None = None, fs: float | None = None,
                   units: str | None = None) -> Recording:
    """Read one lead of a WFDB, EDF/EDF+/BDF or CSV recording, in physical units.

    Args:
        path: the file (WFDB: the ``.hea``, the ``.dat`` or the record path without suffix).
        lead: a lead name or a 0-based index; None: the first lead.
        fs: CSV: the sampling frequency (required unless a first ``time``/``time_s``
            column gives it); WFDB/EDF: must match the file's, or None.
        units: CSV: the file's units (default mV); WFDB/EDF: convert to these units.

    Raises:
        RecordError: missing or corrupt file, unknown lead (the message lists the leads),
            non-numeric CSV cell, missing or mismatched sampling frequency.
    """
    source = Path(path)
    kind, target = _format(source)
    if kind == "wfdb":
        return _to_units(_read_wfdb(source, target, lead, fs), units)
    if kind in ("edf", "bdf"):
        return _to_units(_read_edf(source, kind, lead, fs), units)
    return _read_csv(source, lead, fs, units)


def list_leads(path: str | Path) -> list[str]:
    """The lead names of a recording, in file order (CSV: the columns but the time column)."""
    source = Path(path)
    kind, target = _format(source)
    if kind == "wfdb":
        return _wfdb_leads(source, target)
    if kind in ("edf", "bdf"):
        return [s.label for s in _open_edf(source, kind).signals]
    return _csv_leads(_csv_rows(source)[0])
