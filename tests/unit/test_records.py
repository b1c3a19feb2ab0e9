"""Readers of real ECG recordings: WFDB, EDF/EDF+, CSV, unit conversion, errors, MIT-BIH 100."""

from __future__ import annotations

import os
from pathlib import Path

import edfio
import numpy as np
import pytest
import wfdb

from producers.records import (
    BEAT_SYMBOLS,
    Annotation,
    RecordError,
    Recording,
    convert_units,
    list_leads,
    read_recording,
)

GAIN = 200.0
INVALID = {"16": -32768, "212": -2048}


def _signal(n: int = 500) -> np.ndarray:
    t = np.arange(n) / 250.0
    return np.column_stack([np.sin(2 * np.pi * 1.3 * t), 0.5 * np.cos(2 * np.pi * 0.7 * t) - 0.2])


def _write_wfdb(directory: Path, fmt: str, name: str = "rec") -> np.ndarray:
    values = _signal()
    wfdb.wrsamp(name, fs=250, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=values,
                fmt=[fmt, fmt], adc_gain=[GAIN, GAIN], baseline=[10, -5],
                write_dir=str(directory))
    return values


# --- WFDB -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["16", "212"])
def test_wfdb_values_within_quantization(tmp_path: Path, fmt: str) -> None:
    values = _write_wfdb(tmp_path, fmt)
    for lead, column in (("MLII", 0), ("V5", 1)):
        rec = read_recording(tmp_path / "rec", lead)
        assert rec.lead == lead
        assert rec.fs == 250.0
        assert rec.units == "mV"
        assert rec.gain == GAIN
        assert rec.samples.shape == (500,)
        np.testing.assert_allclose(rec.samples, values[:, column], atol=1.0 / GAIN)
    assert read_recording(tmp_path / "rec").baseline == 10.0
    assert read_recording(tmp_path / "rec", 1).baseline == -5.0


@pytest.mark.parametrize("fmt", ["16", "212"])
def test_wfdb_lead_by_index_and_by_path_suffix(tmp_path: Path, fmt: str) -> None:
    _write_wfdb(tmp_path, fmt)
    by_name = read_recording(tmp_path / "rec", "V5")
    for path in (tmp_path / "rec", tmp_path / "rec.hea", tmp_path / "rec.dat"):
        by_index = read_recording(path, 1)
        assert by_index.lead == "V5"
        np.testing.assert_array_equal(by_index.samples, by_name.samples)
    assert read_recording(tmp_path / "rec.hea").lead == "MLII"
    assert list_leads(tmp_path / "rec") == ["MLII", "V5"]


def test_wfdb_unknown_lead_lists_the_leads(tmp_path: Path) -> None:
    _write_wfdb(tmp_path, "16")
    with pytest.raises(RecordError, match=r"'V1'.*MLII, V5"):
        read_recording(tmp_path / "rec", "V1")
    with pytest.raises(RecordError, match=r"MLII, V5"):
        read_recording(tmp_path / "rec", 2)


def test_wfdb_fs_must_match(tmp_path: Path) -> None:
    _write_wfdb(tmp_path, "16")
    assert read_recording(tmp_path / "rec", fs=250).fs == 250.0
    with pytest.raises(RecordError, match="360"):
        read_recording(tmp_path / "rec", fs=360)


def test_wfdb_annotations_from_atr(tmp_path: Path) -> None:
    _write_wfdb(tmp_path, "212")
    samples = np.array([10, 120, 250, 251, 400])
    symbols = ["N", "V", "+", "A", "~"]
    wfdb.wrann("rec", "atr", samples, symbol=symbols, fs=250, write_dir=str(tmp_path))
    rec = read_recording(tmp_path / "rec", "MLII")
    assert rec.annotations == tuple(Annotation(int(s), y) for s, y in zip(samples, symbols,
                                                                          strict=True))
    assert rec.beats == (Annotation(10, "N"), Annotation(120, "V"), Annotation(251, "A"))


def test_wfdb_without_atr_has_no_annotations(tmp_path: Path) -> None:
    _write_wfdb(tmp_path, "16")
    assert read_recording(tmp_path / "rec").annotations == ()


@pytest.mark.parametrize("fmt", ["16", "212"])
def test_wfdb_invalid_sample_is_nan(tmp_path: Path, fmt: str) -> None:
    digital = np.round(_signal() * GAIN).astype(np.int64)
    digital[7, 0] = INVALID[fmt]
    digital[300, 1] = INVALID[fmt]
    wfdb.wrsamp("bad", fs=250, units=["mV", "mV"], sig_name=["MLII", "V5"], d_signal=digital,
                fmt=[fmt, fmt], adc_gain=[GAIN, GAIN], baseline=[0, 0],
                write_dir=str(tmp_path))
    first = read_recording(tmp_path / "bad", "MLII").samples
    second = read_recording(tmp_path / "bad", "V5").samples
    assert np.flatnonzero(np.isnan(first)).tolist() == [7]
    assert np.flatnonzero(np.isnan(second)).tolist() == [300]
    assert first[8] == pytest.approx(digital[8, 0] / GAIN)


# --- EDF / EDF+ -------------------------------------------------------------------------

def _write_edf(path: Path, annotations: list[edfio.EdfAnnotation] | None = None) -> np.ndarray:
    values = 800.0 * _signal(2500)  # 10 s at 250 Hz, in uV
    signals = [edfio.EdfSignal(values[:, 0], 250, label="ECG I", physical_dimension="uV"),
               edfio.EdfSignal(values[:, 1], 250, label="ECG II", physical_dimension="uV")]
    edfio.Edf(signals, annotations=annotations).write(path)
    return values


def test_edf_values_units_and_leads(tmp_path: Path) -> None:
    path = tmp_path / "rec.edf"
    values = _write_edf(path)
    assert list_leads(path) == ["ECG I", "ECG II"]
    for lead, column in (("ECG I", 0), (1, 1)):
        rec = read_recording(path, lead)
        assert rec.units == "uV"
        assert rec.fs == 250.0
        assert rec.samples.shape == (2500,)
        step = np.ptp(values[:, column]) / 65535
        np.testing.assert_allclose(rec.samples, values[:, column], atol=step)
        assert rec.gain is not None and rec.baseline is not None
        counts = convert_units(rec.samples, rec.units, "adc", rec.gain, rec.baseline)
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
        assert counts.min() == pytest.approx(-32768) and counts.max() == pytest.approx(32767)
    assert read_recording(path).annotations == ()
    with pytest.raises(RecordError, match="ECG I, ECG II"):
        read_recording(path, "V5")
    with pytest.raises(RecordError, match="500"):
        read_recording(path, fs=500)


def test_edf_units_option_converts(tmp_path: Path) -> None:
    path = tmp_path / "rec.edf"
    _write_edf(path)
    micro = read_recording(path, "ECG I")
    milli = read_recording(path, "ECG I", units="mV")
    assert milli.units == "mV"
    np.testing.assert_allclose(milli.samples, micro.samples / 1000)


def test_edf_plus_annotations_map_to_samples(tmp_path: Path) -> None:
    path = tmp_path / "plus.edf"
    _write_edf(path, [edfio.EdfAnnotation(3.004, 0.1, "V"), edfio.EdfAnnotation(1.5, None, "N"),
                      edfio.EdfAnnotation(7.25, None, "artifact")])
    rec = read_recording(path, "ECG II")
    assert rec.annotations == (Annotation(round(1.5 * 250), "N"),
                               Annotation(round(3.004 * 250), "V"),
                               Annotation(round(7.25 * 250), "artifact"))
    assert rec.beats == (Annotation(375, "N"), Annotation(751, "V"))


# --- CSV --------------------------------------------------------------------------------

def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_columns_fs_and_units(tmp_path: Path) -> None:
    path = _csv(tmp_path / "rec.csv", "I,II\n0.1,1.5\n0.2,-2\n0.3,3e-1\n")
    assert list_leads(path) == ["I", "II"]
    first = read_recording(path, fs=500)
    assert (first.lead, first.fs, first.units) == ("I", 500.0, "mV")
    np.testing.assert_array_equal(first.samples, [0.1, 0.2, 0.3])
    second = read_recording(path, "II", fs=500, units="µV")
    assert (second.lead, second.units) == ("II", "uV")
    np.testing.assert_array_equal(second.samples, [1.5, -2.0, 0.3])
    np.testing.assert_array_equal(read_recording(path, 1, fs=500).samples, second.samples)
    assert first.duration_s == pytest.approx(3 / 500)
    with pytest.raises(RecordError, match="I, II"):
        read_recording(path, "III", fs=500)


@pytest.mark.parametrize("column", ["time", "time_s"])
def test_csv_time_column_gives_fs(tmp_path: Path, column: str) -> None:
    times = np.round(np.arange(20) / 360, 6)
    rows = "".join(f"{t},{i}\n" for i, t in enumerate(times))
    path = _csv(tmp_path / "t.csv", f"{column},MLII\n{rows}")
    assert list_leads(path) == ["MLII"]
    rec = read_recording(path)
    assert rec.lead == "MLII"
    assert rec.fs == pytest.approx(360, rel=1e-5)
    np.testing.assert_array_equal(rec.samples, np.arange(20))
    assert read_recording(path, fs=360).fs == 360.0
    with pytest.raises(RecordError, match="time column"):
        read_recording(path, fs=250)


def test_csv_nan_cells(tmp_path: Path) -> None:
    path = _csv(tmp_path / "n.csv", "a,b\n1,\nnan,2\n NaN ,3\n4,5\n")
    np.testing.assert_array_equal(read_recording(path, "a", fs=100).samples,
                                  [1, np.nan, np.nan, 4])
    np.testing.assert_array_equal(read_recording(path, "b", fs=100).samples,
                                  [np.nan, 2, 3, 5])


def test_csv_non_numeric_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", "a,b\n1,2\n3,oops\n")
    with pytest.raises(RecordError, match=r"bad\.csv.*row 3.*'b'.*oops"):
        read_recording(path, "b", fs=100)


def test_csv_without_fs(tmp_path: Path) -> None:
    path = _csv(tmp_path / "nofs.csv", "a\n1\n2\n")
    with pytest.raises(RecordError, match=r"nofs\.csv.*fs"):
        read_recording(path)


def test_csv_non_uniform_time(tmp_path: Path) -> None:
    path = _csv(tmp_path / "jitter.csv", "time,a\n0,1\n0.01,2\n0.05,3\n0.06,4\n")
    with pytest.raises(RecordError, match="uniformly"):
        read_recording(path)


# --- convert_units ----------------------------------------------------------------------

def test_convert_units_round_trips() -> None:
    x = np.array([-1.25, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(convert_units(x, "mV", "uV"), x * 1000)
    np.testing.assert_allclose(convert_units(x, "mV", "V"), x / 1000)
    np.testing.assert_allclose(convert_units(x, "µV", "mV"), x / 1000)
    np.testing.assert_allclose(convert_units(x, "μV", "uV"), x)
    for unit in ("uV", "V", "µV"):
        np.testing.assert_allclose(convert_units(convert_units(x, "mV", unit), unit, "mV"), x)
    counts = convert_units(x, "mV", "adc", gain=200, baseline=1024)
    np.testing.assert_allclose(counts, x * 200 + 1024)
    np.testing.assert_allclose(convert_units(counts, "adc", "mV", gain=200, baseline=1024), x)
    np.testing.assert_allclose(convert_units(x, "mV", "adc", gain=200), x * 200)


def test_convert_units_errors() -> None:
    with pytest.raises(RecordError, match="mmHg"):
        convert_units([1.0], "mmHg", "mV")
    with pytest.raises(RecordError, match="furlong"):
        convert_units([1.0], "mV", "furlong")
    with pytest.raises(RecordError, match="gain"):
        convert_units([1.0], "mV", "adc")
    with pytest.raises(RecordError, match="gain"):
        convert_units([1.0], "adc", "uV", gain=0)


# --- Recording --------------------------------------------------------------------------

def test_recording_is_read_only_and_sorted() -> None:
    rec = Recording(np.array([1, 2, 3, 4]), 2, "x", "mV", "mem",
                    (Annotation(3, "V"), Annotation(0, "N"), Annotation(1, "+")))
    assert rec.samples.dtype == np.float64
    assert rec.duration_s == 2.0
    assert [a.sample for a in rec.annotations] == [0, 1, 3]
    assert rec.beats == (Annotation(0, "N"), Annotation(3, "V"))
    assert "+" not in BEAT_SYMBOLS and "N" in BEAT_SYMBOLS
    with pytest.raises(ValueError, match="read-only"):
        rec.samples[0] = 5.0
    with pytest.raises(RecordError):
        Recording(np.zeros((2, 2)), 250, "x", "mV", "mem")
    with pytest.raises(RecordError):
        Recording(np.zeros(2), 0, "x", "mV", "mem")


# --- wrong files ------------------------------------------------------------------------

def test_wrong_files_raise_record_error(tmp_path: Path) -> None:
    (tmp_path / "x.edf").write_bytes(os.urandom(2000))
    (tmp_path / "x.bdf").write_bytes(os.urandom(2000))
    (tmp_path / "empty.hea").write_text("")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "rec.txt").write_text("1,2\n")
    for name in ("x.edf", "x.bdf", "empty.hea", "empty.csv", "rec.txt", "missing.edf",
                 "missing.csv", "missing.hea", "missing"):
        with pytest.raises(RecordError, match=name.split(".")[0]):
            read_recording(tmp_path / name)
    with pytest.raises(RecordError, match="x.edf"):
        list_leads(tmp_path / "x.edf")


def test_truncated_wfdb_signal_file(tmp_path: Path) -> None:
    _write_wfdb(tmp_path, "16")
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:100])
    with pytest.raises(RecordError, match="rec"):
        read_recording(tmp_path / "rec")


# --- the real record --------------------------------------------------------------------

def test_mitdb_record_100(mitdb_record: Path) -> None:
    rec = read_recording(mitdb_record, "MLII")
    assert rec.lead == "MLII"
    assert rec.fs == 360.0
    assert len(rec.samples) == 650000
    assert rec.units == "mV"
    assert rec.gain == 200.0
    assert rec.baseline == 1024.0
    assert len(rec.beats) == 2273
    assert len(rec.annotations) == 2274
    assert rec.duration_s == pytest.approx(650000 / 360)
    assert not np.isnan(rec.samples).any()
    v5 = read_recording(mitdb_record, 1)
    assert v5.lead == "V5"
    assert len(v5.samples) == 650000
    assert not np.array_equal(v5.samples, rec.samples)
    assert list_leads(mitdb_record) == ["MLII", "V5"]
