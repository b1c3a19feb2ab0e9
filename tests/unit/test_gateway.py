"""The device-gateway sender and the record replay, with a recording stand-in for Kafka."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from producers.gateway import SignalSender
from producers.manifest import ManifestWriter, read_annotations, read_manifest
from producers.record_replay import RecordReplayer, RecordReplayOptions
from producers.records import Annotation, Recording
from tests.fakes import ListProducer


def frames(producer: ListProducer) -> list[dict]:
    return [json.loads(value) for _, _, value in producer.sent]


def test_chunks_of_any_size_become_numbered_contiguous_frames() -> None:
    producer = ListProducer()
    sender = SignalSender(producer, "signal", "bed-1", fs=250.0, frame_size=64)
    x = np.sin(np.arange(1000) / 9.0)
    for lo, hi in ((0, 3), (3, 300), (300, 301), (301, 1000)):
        sender.send(x[lo:hi])
    sender.close()
    sent = frames(producer)
    assert [f["frame_seq"] for f in sent] == list(range(len(sent)))
    assert [f["start_sample"] for f in sent] == list(range(0, 1000, 64))
    np.testing.assert_allclose(np.concatenate([f["samples"] for f in sent]), x, rtol=1e-6)
    assert all(key == b"bed-1" for _, key, _ in producer.sent)


def test_a_sender_states_its_units_and_refuses_unknown_ones() -> None:
    producer = ListProducer()
    SignalSender(producer, "signal", "bed-1", fs=250.0, frame_size=4, units="adc").send(
        np.arange(8))
    assert [(f["schema"], f["units"]) for f in frames(producer)] == [(2, "adc"), (2, "adc")]
    plain = ListProducer()
    SignalSender(plain, "signal", "bed-1", fs=250.0, frame_size=4).send(np.arange(4))
    assert frames(plain)[0]["schema"] == 1 and "units" not in frames(plain)[0]
    try:
        SignalSender(plain, "signal", "bed-1", fs=250.0, units="millivolt")
    except ValueError as exc:
        assert "mV, uV, V, adc" in str(exc)
    else:
        raise AssertionError("unknown units accepted")


def test_invalid_samples_are_a_gap_not_a_lost_frame() -> None:
    producer = ListProducer()
    sender = SignalSender(producer, "signal", "bed-1", fs=250.0, frame_size=50)
    x = np.arange(200, dtype=np.float64)
    x[60:75] = np.nan
    sender.send(x)
    sender.close()
    sent = frames(producer)
    covered = [(f["start_sample"], f["start_sample"] + len(f["samples"])) for f in sent]
    assert covered == [(0, 50), (50, 60), (75, 125), (125, 175), (175, 200)]
    assert sender.samples_skipped == 15 and sender.samples_sent == 185
    assert [f["frame_seq"] for f in sent] == [0, 1, 2, 3, 4]


def test_record_replay_patients_offsets_and_manifest(tmp_path: Path) -> None:
    fs, n = 100.0, 1000
    record = Recording(np.arange(n, dtype=np.float64), fs, "II", "mV", "r.hea",
                       (Annotation(100, "N"), Annotation(500, "V"), Annotation(700, "+")))
    producer = ListProducer()
    opts = RecordReplayOptions(patients=2, speed=0.0, frame_s=0.5, units="uV", invert=True)
    with ManifestWriter(tmp_path / "m.jsonl", {"records": ["r.hea"]}) as writer:
        report = RecordReplayer(producer, "signal", [record], opts, writer).run()
    sent = frames(producer)
    by_patient: dict[str, list[float]] = {}
    for f in sent:
        by_patient.setdefault(f["patient"], []).extend(f["samples"])
    # Patient 1 starts half the record later; samples in uV, inverted; one pass each.
    np.testing.assert_allclose(by_patient["patient-00000"], -1000.0 * np.arange(n))
    np.testing.assert_allclose(by_patient["patient-00001"],
                               -1000.0 * np.roll(np.arange(n), -500))
    assert report.beats_sent == 4 and report.samples_sent == 2 * n
    # Every frame states the units it is sent in (schema 2), for the board's strip.
    assert all(f["schema"] == 2 and f["units"] == "uV" and not f.get("known_to_model")
               for f in sent)
    annotations, extents = read_annotations(tmp_path / "m.jsonl")
    got = sorted((a.patient, a.sample, a.symbol) for a in annotations)
    assert got == [("patient-00000", 100, "N"), ("patient-00000", 500, "V"),
                   ("patient-00000", 700, "+"), ("patient-00001", 0, "V"),
                   ("patient-00001", 200, "+"), ("patient-00001", 600, "N")]
    assert {p: e.samples for p, e in extents.items()} == {"patient-00000": n,
                                                        "patient-00001": n}
    header, records = read_manifest(tmp_path / "m.jsonl")
    assert header["records"] == ["r.hea"] and records == []


def test_record_replay_resampled_rescales_the_annotations(tmp_path: Path) -> None:
    fs = 360.0
    t = np.arange(3600) / fs
    record = Recording(np.sin(2 * np.pi * t), fs, "II", "mV", "r.hea", (Annotation(1800, "N"),))
    producer = ListProducer()
    opts = RecordReplayOptions(speed=0.0, resample=250.0)
    with ManifestWriter(tmp_path / "m.jsonl") as writer:
        RecordReplayer(producer, "signal", [record], opts, writer).run()
    sent = frames(producer)
    assert {f["fs"] for f in sent} == {250.0}
    assert sum(len(f["samples"]) for f in sent) == 2500
    annotations, _ = read_annotations(tmp_path / "m.jsonl")
    assert [(a.sample, a.symbol) for a in annotations] == [(1250, "N")]
