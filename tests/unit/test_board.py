"""The ward board's pure state, its record reader and its web pages (no broker needed)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from stream.board.feed import BoardFeed
from stream.board.state import Board, Strip, unit_label
from stream.board.web import Views, make_app
from stream.settings import Settings
from stream.wire.binary import encode_frame
from stream.wire.encode import beat_json, frame_json

T0 = 1_800_000_000_000
TOKEN = SecretStr("0123456789abcdef")


def score(patient: str, seq: int, published: int, **fields: Any) -> dict[str, Any]:
    return {"schema": 1, "patient": patient, "mode": "continuous", "seq": seq,
            "onset_sample": seq * 300, "fiducial_sample": seq * 300 + 20, "score": 1.0,
            "threshold": 2.0, "anomalous": False, "judged_by": "patient",
            "heart_rate_bpm": 72.0, "published_ms": published, "worker": "w1",
            "model_version": "m1", **fields}


def test_strip_places_frames_by_sample_whatever_their_order() -> None:
    strip = Strip(fs=10.0, units="mV", capacity=10)
    strip.add(0, np.arange(4, dtype=np.float32))
    strip.add(8, np.array([8, 9], dtype=np.float32))  # a gap at 4-7
    first, values = strip.window()
    assert first == 0 and np.array_equal(values[:4], [0, 1, 2, 3])
    assert np.isnan(values[4:8]).all() and np.array_equal(values[8:], [8, 9])
    strip.add(4, np.array([4, 5, 6, 7], dtype=np.float32))  # late: fills the gap
    strip.add(4, np.array([4, 5, 6, 7], dtype=np.float32))  # twice: no change
    assert np.array_equal(strip.window()[1], np.arange(10))
    strip.add(10, np.array([10, 11, 12], dtype=np.float32))  # the ring moves on
    first, values = strip.window()
    assert first == 3 and np.array_equal(values, np.arange(3, 13))
    strip.add(0, np.array([0, 1], dtype=np.float32))  # older than the ring: ignored
    assert np.array_equal(strip.window()[1], np.arange(3, 13))
    strip.add(100, np.array([100], dtype=np.float32))  # far ahead: the rest is a gap
    first, values = strip.window()
    assert first == 91 and np.isnan(values[:-1]).all() and values[-1] == 100


def test_rows_show_heart_rate_learning_anomaly_and_silence() -> None:
    board = Board(anomaly_hold_s=60, stale_s=10)
    for seq, rate in enumerate([70.0, 71.0, 200.0, 72.0, 73.0]):  # one odd RR: the median
        board.take_score(score("a", seq, T0 + seq * 800, heart_rate_bpm=rate,
                               judged_by="learning"), T0)
    board.take_score(score("b", 0, T0, anomalous=True, anomaly_reason="morphology"), T0)
    board.take_score(score("c", 0, T0 - 30_000), T0)
    rows = {r["patient"]: r for r in board.overview(T0 + 4000)["patients"]}
    assert rows["a"]["heart_rate_bpm"] == 72.0 and rows["a"]["state"] == "learning"
    assert rows["a"]["learning"] and rows["a"]["learning_beats"] == 5
    assert rows["b"]["state"] == "anomaly" and rows["b"]["last_anomaly"]["reason"] == "morphology"
    assert rows["c"]["state"] == "stale" and rows["c"]["state_text"] == "no beat for 34 s"
    # The anomaly is held for anomaly_hold_s, then the patient is normal again.
    board.take_score(score("b", 1, T0 + 59_000), T0)
    assert {r["patient"]: r["state"] for r in board.overview(T0 + 59_500)["patients"]}["b"] \
        == "anomaly"
    board.take_score(score("b", 2, T0 + 61_000), T0)
    assert {r["patient"]: r["state"] for r in board.overview(T0 + 61_500)["patients"]}["b"] \
        == "normal"


def test_a_stopped_pipeline_shows_every_patient_silent() -> None:
    board = Board(stale_s=10)
    for patient in ("a", "b"):
        board.take_score(score(patient, 0, T0), T0)
    snap = board.overview(T0 + 12_000)
    assert snap["by_state"]["stale"] == 2 and snap["newest_beat_age_s"] == 12.0


def test_a_pause_under_way_is_an_alarm_until_beats_resume() -> None:
    board = Board()
    board.take_score(score("p", 0, T0), T0)
    board.take_event({"patient": "p", "kind": "pause", "category": "clinical",
                      "phase": "start", "published_ms": T0 + 1000, "duration_ms": 3000.0}, T0)
    row = board.overview(T0 + 2000)["patients"][0]
    assert row["state"] == "alarm" and row["state_text"] == "pause"
    # The end event lost: a beat scored well after the start ends the condition anyway.
    board.take_score(score("p", 1, T0 + 4000), T0)
    row = board.overview(T0 + 4500)["patients"][0]
    assert row["state"] == "normal" and row["conditions"] == []


def test_odd_values_are_read_as_missing_and_never_break_a_page() -> None:
    settings = Settings()
    board = Board()
    feed = BoardFeed(settings, board, lookback_s=10)
    odd = [b'{"patient": "p", "seq": [1], "fiducial_sample": "x", "onset_sample": -5,'
           b' "heart_rate_bpm": NaN, "score": Infinity, "published_ms": 1e400,'
           b' "anomalous": "yes", "mode": 3, "worker": {"a": 1}}',
           b'{"patient": "p", "seq": 1' + b"0" * 400 + b', "published_ms": 99999999999999999}']
    feed.take([_message(settings.topic_scores, value) for value in odd])
    feed.take([_message(settings.topic_alerts, b'{"patient": "p", "raised_ms": Infinity,'
                                               b' "kind": ["x"], "first_seq": NaN}'),
               _message(settings.topic_events, b'{"patient": "p", "kind": "lead_off",'
                                               b' "phase": "start", "published_ms": -1}'),
               _message(settings.topic_signal, frame_json("p", 0, 0, 1e9, np.zeros(8), T0))])
    assert feed.counts.invalid == dict.fromkeys(feed.counts.invalid, 0) | {"signal": 1}
    now = time.time_ns() // 10**6 + 1000  # the reader stamps with the wall clock
    snapshot = json.dumps(board.overview(now), allow_nan=False)
    view = board.patient_view("p", now)
    assert view is not None and view["strip"] is None  # the 1 GHz frame was refused
    json.dumps(view, allow_nan=False)
    row = json.loads(snapshot)["patients"][0]
    assert row["heart_rate_bpm"] is None and row["mode"] is None and row["worker"] == ""
    assert row["beats"] == 2 and row["anomalies"] == 0 and row["last_anomaly"] is None
    assert row["last_beat_ms"] <= now  # 1e400 and the 17-digit time: the reader's clock
    assert row["state"] == "alarm" and row["conditions"] == ["lead_off"]  # clinical: default
    alarm = view["alarms"][0]
    assert alarm["kind"] == "anomaly_run" and alarm["raised_ms"] <= now
    assert alarm["first_seq"] is None


def test_a_restarted_source_gets_a_new_strip_and_a_late_frame_does_not() -> None:
    board = Board(strip_s=1.0)
    for start in range(0, 10_000, 100):
        board.take_frame("p", start, 100.0, "mV", np.full(100, 1.0, np.float32), T0)
    board.take_frame("p", 9_500, 100.0, "mV", np.full(100, 2.0, np.float32), T0)  # late
    strip = board.patient_view("p", T0)["strip"]  # type: ignore[index]
    assert strip["end_sample"] == 10_000 and set(strip["values"]) == {1.0}
    board.take_frame("p", 0, 100.0, "mV", np.full(100, 3.0, np.float32), T0)  # from 0 again
    strip = board.patient_view("p", T0)["strip"]  # type: ignore[index]
    assert strip["first_sample"] == 0 and strip["end_sample"] == 100
    assert set(strip["values"]) == {3.0}


def test_alarms_are_held_for_the_cool_down_and_technical_conditions_until_they_end() -> None:
    board = Board(alarm_hold_s=30)
    board.take_score(score("p", 0, T0), T0)
    board.take_alert({"patient": "p", "kind": "asystole", "category": "clinical",
                      "raised_ms": T0, "detail": "no beat for 4.2 s"}, T0)
    board.take_event({"patient": "q", "kind": "lead_off", "category": "technical",
                      "phase": "start", "published_ms": T0, "duration_ms": 0.0}, T0)
    snap = board.overview(T0 + 1000)
    assert [r["patient"] for r in snap["patients"]] == ["p", "q"]  # most urgent first
    p, q = snap["patients"]
    assert p["state"] == "alarm" and p["state_text"] == "asystole" and p["alarm"]["age_s"] == 1
    assert q["state"] == "technical" and q["conditions"] == ["lead_off"]
    assert snap["by_state"]["alarm"] == 1 and snap["by_state"]["technical"] == 1
    assert board.by_state(T0 + 1000) == snap["by_state"]
    board.take_event({"patient": "q", "kind": "lead_off", "category": "technical",
                      "phase": "end", "published_ms": T0 + 5000, "duration_ms": 5000.0}, T0)
    later = {r["patient"]: r for r in board.overview(T0 + 31_000)["patients"]}
    assert later["p"]["state"] != "alarm" and later["p"]["last_alarm"]["kind"] == "asystole"
    assert later["q"]["state"] == "waiting" and later["q"]["conditions"] == []


def test_the_strip_is_in_millivolts_with_the_beats_marked_on_it() -> None:
    board = Board(strip_s=2.0)
    signal = np.sin(np.arange(500) / 20).astype(np.float32) * 1000  # microvolts
    for start in range(0, 500, 100):
        board.take_frame("p", start, 250.0, "uV", signal[start:start + 100], T0)
    board.take_score(score("p", 1, T0, fiducial_sample=420, anomalous=True), T0)
    board.take_score(score("p", 0, T0, fiducial_sample=10), T0)  # before the strip: left out
    view = board.patient_view("p", T0)
    assert view is not None
    strip = view["strip"]
    assert strip["axis"] == "mV" and strip["first_sample"] == 0 and strip["end_sample"] == 500
    assert strip["fs"] == 250.0 and strip["t0_s"] == 0.0
    assert np.allclose(strip["values"], signal / 1000, atol=1e-4)
    assert [m["sample"] for m in strip["marks"]] == [420, 10]
    board2 = Board(strip_s=1.0)
    for start in range(0, 500, 100):
        board2.take_frame("p", start, 250.0, "uV", signal[start:start + 100], T0)
    board2.take_score(score("p", 1, T0, fiducial_sample=420, anomalous=True), T0)
    board2.take_score(score("p", 0, T0, fiducial_sample=10), T0)
    marks = board2.patient_view("p", T0)["strip"]["marks"]  # type: ignore[index]
    assert [(m["sample"], m["anomalous"], m["t_s"]) for m in marks] == [(420, True, 1.68)]
    assert marks[0]["value"] == pytest.approx(signal[420] / 1000, abs=1e-4)
    assert unit_label("V") == ("mV", 1000.0) and unit_label("adc") == ("ADC counts", 1.0)
    assert unit_label(None)[0].startswith("signal units")


def test_beat_mode_shows_the_beats_with_their_verdicts() -> None:
    board = Board(beats=3)
    for seq in range(5):
        board.take_beat("b", seq, np.full(140, seq, dtype=np.float32), T0)
        board.take_score(score("b", seq, T0, mode="beat", anomalous=seq == 4,
                               onset_sample=None, fiducial_sample=None), T0)
    view = board.patient_view("b", T0)
    assert view is not None and view["strip"] is None
    assert [(b["seq"], b["anomalous"], b["samples"][0]) for b in view["beats"]] == [
        (2, False, 2.0), (3, False, 3.0), (4, True, 4.0)]
    assert board.patient_view("nobody", T0) is None


def test_the_board_keeps_at_most_max_patients() -> None:
    board = Board(max_patients=3)
    for i in range(5):
        board.take_score(score(f"p{i}", 0, T0), T0)
    board.take_score(score("p2", 1, T0), T0)  # p2 is recent again
    board.take_score(score("p5", 0, T0), T0)
    assert sorted(r["patient"] for r in board.overview(T0)["patients"]) == ["p2", "p4", "p5"]


def _message(topic: str, value: bytes, key: bytes = b"p") -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=0, offset=7, key=key, value=value,
                           timestamp=T0)


def test_the_reader_counts_what_it_cannot_read_and_goes_on() -> None:
    settings = Settings()
    board = Board()
    feed = BoardFeed(settings, board, lookback_s=10)
    samples = np.linspace(-1, 1, 90).astype(np.float32)
    feed.take([
        _message(settings.topic_scores, json.dumps(score("p", 0, T0)).encode()),
        _message(settings.topic_scores, b"{not json"),
        _message(settings.topic_scores, b'{"no": "patient"}'),
        _message(settings.topic_signal, frame_json("p", 0, 0, 360.0, samples, T0, units="mV")),
        _message(settings.topic_signal, encode_frame("p", 1, 90, 360.0, samples, T0,
                                                     units="mV")),
        _message(settings.topic_signal, b"ECGF\x09 broken"),
        _message(settings.topic_beats, beat_json("b", 0, np.zeros(140), T0), key=b"b"),
        _message(settings.topic_alerts, json.dumps({"patient": "p", "kind": "tachycardia",
                                                    "category": "clinical",
                                                    "raised_ms": T0}).encode()),
        _message("some.other.topic", b"ignored"),
    ])
    assert feed.counts.read == {"scores": 3, "alerts": 1, "events": 0, "signal": 3, "beats": 1}
    assert feed.counts.invalid == {"scores": 2, "alerts": 0, "events": 0, "signal": 1,
                                   "beats": 0}
    view = board.patient_view("p", T0)
    assert view is not None and view["strip"]["end_sample"] == 180
    assert view["row"]["units"] == "mV" and view["alarms"][0]["kind"] == "tachycardia"


@pytest.fixture
async def client_for() -> Any:
    clients: list[TestClient] = []

    async def make(token: SecretStr | None) -> TestClient:
        board = Board()
        for i in range(5):
            board.take_score(score(f"bed-{i}", 0, T0), T0)
        views = Views(board, BoardFeed(Settings(), board, 10), interval_s=0.1)
        client = TestClient(TestServer(make_app(views, token)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_pages_need_the_token_when_one_is_set(client_for: Any) -> None:
    client = await client_for(TOKEN)
    for url in ("/board/", "/board/snapshot", "/board/patient?id=bed-1",
                "/board/static/board.js", "/board/events"):
        response = await client.get(url)
        assert response.status == 401, url
        assert "ECG_WEB_TOKEN" in await response.text()
    bearer = {"Authorization": f"Bearer {TOKEN.get_secret_value()}"}
    assert (await client.get("/board/snapshot", headers=bearer)).status == 200
    entered = await client.get(f"/board/?token={TOKEN.get_secret_value()}",
                               allow_redirects=False)
    assert entered.status == 303 and entered.headers["Location"] == "/board/"
    cookie = entered.cookies["ecg_board"]
    assert cookie["path"] == "/board/" and TOKEN.get_secret_value() not in cookie.value
    page = await client.get("/board/")  # the client keeps the cookie
    assert page.status == 200 and "ward board" in await page.text()
    # Counts only, no patient data: /metrics and /health need no token.
    metrics = await (await client.get("/metrics")).text()
    assert 'ecg_board_patients{state="waiting"} 0.0' in metrics
    assert "ecg_board_records_total" in metrics and "bed-" not in metrics
    assert (await client.get("/health")).status == 503  # the reader has not started


async def test_snapshots_filter_cap_and_send_safe_headers(client_for: Any) -> None:
    client = await client_for(None)
    page = await client.get("/board/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    snap = await (await client.get("/board/snapshot?limit=2")).json()
    assert snap["total"] == 5 and snap["shown"] == 2 and len(snap["patients"]) == 2
    snap = await (await client.get("/board/snapshot?q=bed-3")).json()
    assert [r["patient"] for r in snap["patients"]] == ["bed-3"] and snap["matching"] == 1
    one = await (await client.get("/board/patient/snapshot?id=bed-3")).json()
    assert one["found"] and one["row"]["patient"] == "bed-3"
    none = await (await client.get("/board/patient/snapshot?id=nobody")).json()
    assert none["found"] is False
    assert (await client.get("/board/patient/snapshot")).status == 400
    assert (await client.get("/board/static/../web.py")).status == 404
    events = await client.get("/board/events")
    assert events.headers["Content-Type"] == "text/event-stream"
    line = b""
    while not line.startswith(b"data: "):
        line = await events.content.readline()
    assert json.loads(line.decode().removeprefix("data: "))["total"] == 5
    events.close()
    moved = await client.get("/", allow_redirects=False)
    assert moved.status == 302 and moved.headers["Location"] == "/board/"


async def test_an_open_event_stream_does_not_hold_up_shutdown(client_for: Any) -> None:
    client = await client_for(None)
    events = await client.get("/board/events")
    await events.content.readline()
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 3
