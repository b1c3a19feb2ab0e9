"""EC57 beat-by-beat evaluation: matching, windows, classes, gross statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wfdb
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.errors import ConfigError
from stream.runs.ec57 import AAMI_CLASS, BEAT_SYMBOLS, Detection, Reference, ec57_lines, ec57_report

FS = 360.0


def refs(samples: list[int], symbol: str = "N", patient: str = "p") -> list[Reference]:
    return [Reference(patient, s, symbol) for s in samples]


def dets(samples: list[int], anomalous: bool = False, patient: str = "p") -> list[Detection]:
    return [Detection(patient, s, anomalous) for s in samples]


def counts(window: dict) -> tuple[int, int, int]:
    return window["tp"], window["fn"], window["fp"]


def test_aami_mapping() -> None:
    assert set(AAMI_CLASS) <= BEAT_SYMBOLS
    assert {c: sorted(s for s, k in AAMI_CLASS.items() if k == c) for c in "NSVFQ"} == {
        "N": sorted("NLRejB"), "S": sorted("AaJSn"), "V": ["E", "V", "r"], "F": ["F"],
        "Q": sorted("/fQ?")}


def test_perfect_match() -> None:
    report = ec57_report(refs([100, 500, 900]), dets([100, 500, 900]), FS, learning_s=0)
    for window in ("all", "after_learning"):
        w = report["overall"][window]
        assert counts(w) == (3, 0, 0)
        assert w["se"] == 1.0 and w["ppv"] == 1.0
    assert report["patients"]["p"]["all"] == report["overall"]["all"]
    assert report["tolerance_s"] == 0.150 and report["learning_s"] == 0


def test_tolerance_boundary_at_360_hz() -> None:
    # round(0.150 * 360) = 54 samples. 55 samples is 152.8 ms (beyond 151 ms): FN + FP;
    # 54 samples is exactly 150 ms and 53 is 147.2 ms (within 149 ms): TP.
    far = ec57_report(refs([1000]), dets([1055]), FS)["overall"]["all"]
    assert counts(far) == (0, 1, 1)
    assert far["se"] == 0.0 and far["ppv"] == 0.0
    for offset in (54, 53, -54):
        assert counts(ec57_report(refs([1000]), dets([1000 + offset]), FS)["overall"]["all"]) \
            == (1, 0, 0)


def test_two_detections_near_one_reference() -> None:
    report = ec57_report(refs([1000]), dets([990, 1003]), FS)["overall"]["all"]
    assert counts(report) == (1, 0, 1)
    assert report["se"] == 1.0 and report["ppv"] == 0.5


def test_non_beat_symbols_are_ignored() -> None:
    references = refs([1000]) + [Reference("p", 1002, "+"), Reference("p", 2000, "~"),
                                 Reference("p", 3000, "|")]
    w = ec57_report(references, dets([1001]), FS)["overall"]["all"]
    assert counts(w) == (1, 0, 0)
    assert set(w["by_symbol"]) == {"N"}
    # Only non-beat references: the detection is a false one.
    assert counts(ec57_report([Reference("p", 1000, "+")], dets([1000]), FS)["overall"]["all"]) \
        == (0, 0, 1)


def test_learning_window_split() -> None:
    boundary = int(300 * FS)  # 108000
    references = refs([1000, 5000, boundary + 4000, boundary + 8000, boundary - 10])
    detections = dets([1000, 20000,  # TP and FP in the learning period; 5000 is FN there
                       boundary + 4000, boundary + 6000,  # TP, FP; boundary + 8000 is FN
                       boundary + 10])  # pairs with boundary - 10: counted by the reference
    report = ec57_report(references, detections, FS)["overall"]
    assert counts(report["all"]) == (3, 2, 2)
    assert counts(report["after_learning"]) == (1, 1, 1)
    assert report["after_learning"]["se"] == 0.5 and report["after_learning"]["ppv"] == 0.5
    # The other straddle: the reference after the boundary, its detection before.
    inward = ec57_report(refs([boundary + 10]), dets([boundary - 10]), FS)["overall"]
    assert counts(inward["after_learning"]) == (1, 0, 0)
    # A shorter learning period moves the boundary (3600 samples).
    short = ec57_report(references, detections, FS, learning_s=10.0)["overall"]
    assert counts(short["after_learning"]) == (2, 2, 2)


def test_per_class_flagged_counts() -> None:
    references = [Reference("p", 1000, "N"), Reference("p", 2000, "N"), Reference("p", 3000, "L"),
                  Reference("p", 4000, "V"), Reference("p", 5000, "V"), Reference("p", 6000, "A"),
                  Reference("p", 7000, "F"), Reference("p", 8000, "/")]
    detections = [Detection("p", 1000, False), Detection("p", 2000, True),
                  Detection("p", 3000, True), Detection("p", 4000, True),  # 5000 V missed
                  Detection("p", 6000, False, premature=True), Detection("p", 7000, True),
                  Detection("p", 8000, False),
                  Detection("p", 9000, True), Detection("p", 9500, False)]  # two FP, one flagged
    w = ec57_report(references, detections, FS, learning_s=0)["overall"]["all"]
    assert counts(w) == (7, 1, 2)
    assert w["false_detections_flagged"] == 1
    assert w["by_class"] == {
        "F": {"beats": 1, "detected": 1, "flagged": 1, "morphology": 0, "premature": 0},
        "N": {"beats": 3, "detected": 3, "flagged": 2, "morphology": 0, "premature": 0},
        "Q": {"beats": 1, "detected": 1, "flagged": 0, "morphology": 0, "premature": 0},
        "S": {"beats": 1, "detected": 1, "flagged": 0, "morphology": 0, "premature": 1},
        "V": {"beats": 2, "detected": 1, "flagged": 1, "morphology": 0, "premature": 0},
    }
    assert w["by_symbol"] == {
        "/": {"beats": 1, "detected": 1, "flagged": 0, "morphology": 0, "premature": 0},
        "A": {"beats": 1, "detected": 1, "flagged": 0, "morphology": 0, "premature": 1},
        "F": {"beats": 1, "detected": 1, "flagged": 1, "morphology": 0, "premature": 0},
        "L": {"beats": 1, "detected": 1, "flagged": 1, "morphology": 0, "premature": 0},
        "N": {"beats": 2, "detected": 2, "flagged": 1, "morphology": 0, "premature": 0},
        "V": {"beats": 2, "detected": 1, "flagged": 1, "morphology": 0, "premature": 0},
    }
    lines = ec57_lines(ec57_report(references, detections, FS, learning_s=0))
    assert lines[0] == ("all: Se 87.50% +P 77.78% (TP 7 FN 1 FP 2, "
                        "1 false detections flagged)")
    assert "  V: 2 beats, 1 detected, 1 flagged" in lines
    assert len(lines) == 12


def test_multiple_patients_are_summed_gross() -> None:
    references = refs([1000, 2000, 3000], patient="a") + refs([1000, 2000], patient="b") \
        + refs([500], patient="only_refs")
    detections = dets([1000, 2000, 3000, 4000], patient="a") + dets([1000], patient="b") \
        + dets([700, 900], patient="only_dets")
    report = ec57_report(references, detections, FS, learning_s=0)
    assert list(report["patients"]) == ["a", "b", "only_dets", "only_refs"]
    assert counts(report["patients"]["a"]["all"]) == (3, 0, 1)
    assert counts(report["patients"]["b"]["all"]) == (1, 1, 0)
    assert counts(report["patients"]["only_dets"]["all"]) == (0, 0, 2)
    assert report["patients"]["only_dets"]["all"]["se"] is None
    assert counts(report["patients"]["only_refs"]["all"]) == (0, 1, 0)
    assert report["patients"]["only_refs"]["all"]["ppv"] is None
    overall = report["overall"]["all"]
    assert counts(overall) == (4, 2, 3)
    # Gross: from the summed counts, not the mean of per-patient ratios.
    assert overall["se"] == pytest.approx(4 / 6, abs=1e-6)
    assert overall["ppv"] == pytest.approx(4 / 7, abs=1e-6)
    assert json.loads(json.dumps(report)) == report


def test_fs_per_patient() -> None:
    # 30 samples off: within round(0.15 * 250) = 38 at 250 Hz, beyond round(0.15 * 128) = 19.
    references = refs([1000], patient="fast") + refs([1000], patient="slow")
    detections = dets([1030], patient="fast") + dets([1030], patient="slow")
    report = ec57_report(references, detections, {"fast": 250.0, "slow": 128.0}, learning_s=0)
    assert counts(report["patients"]["fast"]["all"]) == (1, 0, 0)
    assert counts(report["patients"]["slow"]["all"]) == (0, 1, 1)
    # The learning boundary follows each patient's rate too: 2 s is 500 or 256 samples.
    late = ec57_report(refs([400], patient="fast") + refs([400], patient="slow"), [],
                       {"fast": 250.0, "slow": 128.0}, learning_s=2.0)
    assert late["patients"]["fast"]["after_learning"]["fn"] == 0
    assert late["patients"]["slow"]["after_learning"]["fn"] == 1
    with pytest.raises(ConfigError, match="'slow'"):
        ec57_report(references, detections, {"fast": 250.0})
    with pytest.raises(ConfigError, match="positive"):
        ec57_report(references, detections, 0.0)


def test_empty_inputs() -> None:
    report = ec57_report([], [], FS)
    assert report["patients"] == {}
    assert counts(report["overall"]["all"]) == (0, 0, 0)
    assert report["overall"]["all"]["se"] is None and report["overall"]["all"]["ppv"] is None
    assert ec57_lines(report)[0].startswith("all: Se n/a +P n/a")


SYMBOLS = sorted(BEAT_SYMBOLS) + ["+", "~", "|"]
LEARNING_S = 1.0  # 360 samples at FS
TOL = round(0.150 * FS)

events = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 1500)),
                  max_size=40)


@settings(max_examples=150, deadline=None)
@given(events, st.lists(st.sampled_from(SYMBOLS), min_size=40, max_size=40), events,
       st.lists(st.booleans(), min_size=40, max_size=40))
def test_counts_add_up(ref_events: list, symbols: list, det_events: list, flags: list) -> None:
    references = [Reference(p, s, sym) for (p, s), sym in zip(ref_events, symbols, strict=False)]
    detections = [Detection(p, s, f) for (p, s), f in zip(det_events, flags, strict=False)]
    report = ec57_report(references, detections, FS, learning_s=LEARNING_S)
    boundary = LEARNING_S * FS
    beats = [r for r in references if r.symbol in BEAT_SYMBOLS]
    for window, after in (("all", -1.0), ("after_learning", boundary)):
        w = report["overall"][window]
        n_beats = sum(r.sample >= after for r in beats)
        n_dets = sum(d.sample >= after for d in detections)
        assert w["tp"] + w["fn"] == n_beats
        assert sum(row["beats"] for row in w["by_class"].values()) <= n_beats
        assert sum(row["beats"] for row in w["by_symbol"].values()) == n_beats
        assert w["false_detections_flagged"] <= w["fp"]
        if window == "all":
            assert w["tp"] + w["fp"] == n_dets
        else:
            # Pairs straddling the boundary count by their reference: only detections within
            # the tolerance of the boundary can move in or out of the window.
            near = sum(abs(d.sample - boundary) <= TOL for d in detections)
            assert n_dets - near <= w["tp"] + w["fp"] <= n_dets + near
        # Overall is the sum over patients.
        for key in ("tp", "fn", "fp", "false_detections_flagged"):
            assert w[key] == sum(p[window][key] for p in report["patients"].values())


@settings(max_examples=100, deadline=None)
@given(events, events)
def test_counts_add_up_exactly_away_from_the_boundary(ref_events: list, det_events: list) -> None:
    boundary = int(LEARNING_S * FS)
    keep = [s for s in range(1501) if abs(s - boundary) > 2 * TOL]
    references = [Reference(p, keep[s % len(keep)], "N") for p, s in ref_events]
    detections = [Detection(p, keep[s % len(keep)], False) for p, s in det_events]
    w = ec57_report(references, detections, FS, learning_s=LEARNING_S)["overall"]
    assert w["after_learning"]["tp"] + w["after_learning"]["fn"] \
        == sum(r.sample >= boundary for r in references)
    assert w["after_learning"]["tp"] + w["after_learning"]["fp"] \
        == sum(d.sample >= boundary for d in detections)
    assert w["all"]["tp"] + w["all"]["fp"] == len(detections)


def test_mitdb_100_shifted_reference_is_perfect(mitdb_record: Path) -> None:
    ann = wfdb.rdann(str(mitdb_record), "atr")
    references = [Reference("100", int(s), str(sym)) for s, sym in zip(ann.sample, ann.symbol,
                                                                       strict=True)]
    detections = [Detection("100", r.sample + 10, r.symbol == "V") for r in references
                  if r.symbol in BEAT_SYMBOLS]
    report = ec57_report(references, detections, 360.0)
    w = report["overall"]["all"]
    assert (w["tp"], w["fn"], w["fp"]) == (2273, 0, 0)
    assert w["se"] == 1.0 and w["ppv"] == 1.0
    assert {c: w["by_class"][c]["beats"] for c in "NSVFQ"} == {"N": 2239, "S": 33, "V": 1,
                                                               "F": 0, "Q": 0}
    assert all(row["detected"] == row["beats"] for row in w["by_class"].values())
    assert w["by_class"]["V"]["flagged"] == 1 and w["by_class"]["N"]["flagged"] == 0
    after = report["overall"]["after_learning"]
    assert after["se"] == 1.0 and after["ppv"] == 1.0
    assert after["tp"] == sum(r.sample >= 300 * 360 for r in references if r.symbol in BEAT_SYMBOLS)
    assert 0 < after["tp"] < 2273
