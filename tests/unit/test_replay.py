"""The replay producer with a recording stand-in for the Kafka producer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from producers.manifest import ManifestWriter, read_manifest
from producers.pacing import Pacer
from producers.replay import Replayer, ReplayOptions
from tests.fakes import ListProducer


def run(tmp_path: Path, **options) -> tuple[ListProducer, dict, list]:
    rng = np.random.default_rng(0)
    beats = rng.standard_normal((30, 140)).astype(np.float32)
    labels = np.array([1, 2, 3] * 10, dtype=np.int8)
    rows = np.arange(30, dtype=np.int64)
    recorder = ListProducer()
    with ManifestWriter(tmp_path / "m.jsonl") as writer:
        Replayer(recorder, "beats", "signal", beats, labels, rows, ReplayOptions(**options),
                 writer).run()
    header, records = read_manifest(tmp_path / "m.jsonl")
    return recorder, header, records


def test_beat_mode_messages_and_manifest(tmp_path: Path) -> None:
    recorder, _, records = run(tmp_path, patients=4)
    assert len(recorder.sent) == 30 == len(records)
    for (topic, key, value), truth in zip(recorder.sent, records, strict=True):
        message = json.loads(value)
        assert topic == "beats" and key.decode() == message["patient"] == truth.patient
        assert message["seq"] == truth.seq and message["sent_ms"] == truth.sent_ms
        assert len(message["samples"]) == 140
        assert "label" not in message, "the label never travels to the worker"
    assert {r.patient for r in records} == {f"patient-0000{i}" for i in range(4)}


def test_continuous_mode_frames_cover_the_signal(tmp_path: Path) -> None:
    recorder, _, records = run(tmp_path, mode="continuous", patients=3, frame_size=50,
                               hrv=(120, 160))
    frames = [json.loads(v) for _, _, v in recorder.sent]
    assert all(t == "signal" for t, _, _ in recorder.sent)
    for patient in {r.patient for r in records}:
        mine = [f for f in frames if f["patient"] == patient]
        assert [f["frame_seq"] for f in mine] == list(range(len(mine)))
        starts = [f["start_sample"] for f in mine]
        assert starts == list(np.cumsum([0] + [len(f["samples"]) for f in mine[:-1]]))
        truth = sorted(r.onset_sample for r in records if r.patient == patient)
        gaps = np.diff(truth)
        assert truth[0] == 0 and ((gaps >= 120) & (gaps <= 160)).all()
        assert "onset" not in json.dumps(mine[0]) and "label" not in json.dumps(mine[0])


def test_loop_with_duration_continues_sequences(tmp_path: Path) -> None:
    recorder, _, records = run(tmp_path, patients=2, loop=True, duration=0.5, rate=200)
    seqs = [(r.patient, r.seq) for r in records]
    assert len(seqs) == len(set(seqs)) and len(records) > 30


def test_pacer_keeps_the_rate() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(100, monotonic=lambda: clock[0], sleep=sleep)
    for _ in range(10):
        pacer.wait(1)
    assert sum(slept) == pytest.approx(0.1)
    assert clock[0] == pytest.approx(0.1)


def test_f32_encoding_sends_the_same_beats_and_frames(tmp_path: Path) -> None:
    from stream.wire.decode import RawInput, decode_beat, decode_frame

    as_json, _, _ = run(tmp_path, patients=4)
    as_f32, _, records = run(tmp_path, patients=4, encoding="f32")
    assert len(as_f32.sent) == len(as_json.sent) == len(records) == 30
    for (_, key, text), (_, key2, binary) in zip(as_json.sent, as_f32.sent, strict=True):
        a = decode_beat(RawInput("beats", 0, 0, key, text, 0), 65536)
        b = decode_beat(RawInput("beats", 0, 0, key2, binary, 0), 65536)
        assert (a.patient, a.seq) == (b.patient, b.seq)
        assert np.array_equal(np.float32(a.samples), np.float32(b.samples))
        assert len(binary) < len(text) / 2
    frames_json, _, _ = run(tmp_path, mode="continuous", patients=3, frame_size=50)
    frames_f32, _, _ = run(tmp_path, mode="continuous", patients=3, frame_size=50,
                           encoding="f32")
    for (_, key, text), (_, _, binary) in zip(frames_json.sent, frames_f32.sent, strict=True):
        a = decode_frame(RawInput("signal", 0, 0, key, text, 0), 65536)
        b = decode_frame(RawInput("signal", 0, 0, key, binary, 0), 65536)
        assert (a.frame_seq, a.start_sample, a.fs) == (b.frame_seq, b.start_sample, b.fs)
        assert np.array_equal(np.float32(a.samples), np.float32(b.samples))


@pytest.mark.parametrize(("setting", "expected"), [("none", None), ("gzip", "gzip"),
                                                   ("lz4", "lz4")])
def test_producer_compression_comes_from_settings(monkeypatch, setting: str,
                                                  expected: str | None) -> None:
    import kafka

    from producers.runner import make_producer
    from stream.settings import Settings

    seen: dict = {}
    monkeypatch.setattr(kafka, "KafkaProducer", lambda **kwargs: seen.update(kwargs))
    make_producer(Settings(producer_compression=setting))
    assert seen["compression_type"] == expected and seen["acks"] == "all"


def _replay_cli_options(monkeypatch, args: list[str]) -> dict:
    """The ReplayOptions fields ``ecg-stream replay ARGS`` hands to the runner."""
    from click.testing import CliRunner

    import stream.cli.replay as replay_cli
    from stream.settings import Settings

    seen: dict = {}
    monkeypatch.setattr(replay_cli, "require_kafka", lambda settings: None)
    monkeypatch.setattr(replay_cli, "run_replay",
                        lambda settings, split, manifest, progress, **options:
                        seen.update(options) or {})
    result = CliRunner().invoke(replay_cli.replay, args, obj=Settings())
    assert result.exit_code == 0, result.output
    return seen


def test_replay_command_defaults_are_the_replay_options_defaults(monkeypatch) -> None:
    from producers.stitch import DEFAULT_HRV

    assert ReplayOptions(**_replay_cli_options(monkeypatch, [])) == ReplayOptions()
    assert ReplayOptions().hrv == DEFAULT_HRV


def test_demo_continuous_replays_with_the_hrv_replay_gives_by_default(monkeypatch) -> None:
    from stream.runs.demo import demo_options

    replayed = ReplayOptions(**_replay_cli_options(monkeypatch, ["--mode", "continuous"]))
    demo = demo_options("continuous", 1000.0, 32)
    assert demo.hrv is not None and demo.hrv == replayed.hrv  # was: None, no HRV
    assert (demo.mode, demo.rate, demo.patients) == ("continuous", 1000.0, 32)
