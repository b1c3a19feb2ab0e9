"""A short smoke of the end-to-end benchmark harness: a complete report and no lost beat.

The hand loop (the reference consumer) runs too, on the same replay.

It replays the float32 binary variant (JSON is what every other pipeline test sends), and
the stream's decisions must be those of the same beats scored offline.
"""

from __future__ import annotations

from pathlib import Path

from stream.runs.bench import run_bench
from stream.settings import Settings

KEYS = {"throughput_beats_per_s", "latency_ms", "lost", "dead_lettered", "peak_rss_mb",
        "baseline_throughput_beats_per_s", "ratio", "config", "machine", "hand_loop",
        "hand_loop_processes", "hand_loop_throughput_beats_per_s",
        "hand_loop_cpu_s_per_1000_beats", "hand_loop_ratio", "beyond_model_ms_per_beat",
        "hand_loop_beyond_model_ms_per_beat"}


def test_bench_smoke(infra: Settings, tmp_path: Path) -> None:
    report = run_bench(infra, workers=[1], rate=100.0, duration=3.0, patients=8,
                       workdir=tmp_path, baseline=True, encoding="f32")
    assert KEYS <= set(report)
    assert set(report["latency_ms"]) == {"p50", "p95", "p99"}
    assert set(report["latency_steady_ms"]) == {"p50", "p95", "p99"}
    assert set(report["runs"][0]["latency_legs_ms"]) == {"to_worker", "in_worker"}
    assert report["runs"][0]["worker_cpu_s_per_1000_beats"] > 0
    assert report["lost"] == 0 and report["dead_lettered"] == 0
    assert report["throughput_beats_per_s"] > 0 and report["baseline_throughput_beats_per_s"] > 0
    assert report["ratio"] is not None and report["peak_rss_mb"] > 0
    assert report["machine"]["cores"] >= 1
    assert [run["tag"] for run in report["runs"]] == ["1-worker", "baseline"]
    main = report["runs"][0]
    assert main["beats_scored"] == main["beats_sent"] > 0
    assert main["decisions_match_offline"] == main["beats_scored"]
    assert main["f1"] == main["offline_f1"] and main["f1_gap_points"] == 0
    assert report["config"]["encoding"] == "f32"
    hand = report["hand_loop"]
    assert hand["tag"] == "hand-loop-1" and report["hand_loop_processes"] == 1
    assert hand["beats_scored"] == hand["beats_sent"] == main["beats_sent"]
    assert hand["lost"] == 0 and hand["dead_lettered"] == 0
    # the static threshold: the hand loop's decisions are the offline ones, beat for beat
    assert hand["decisions_match_offline"] == hand["beats_scored"]
    assert hand["f1"] == hand["offline_f1"]
    assert report["hand_loop_throughput_beats_per_s"] == hand["throughput_beats_per_s"] > 0
    assert report["hand_loop_ratio"] == round(
        report["throughput_beats_per_s"] / hand["throughput_beats_per_s"], 2)
    assert report["hand_loop_cpu_s_per_1000_beats"] > 0
    # the model alone at the batch sizes each run saw, and the rest of the workers' CPU
    for run in (main, hand):
        assert run["model_cpu_s_per_1000_beats"] > 0
        assert run["beyond_model_ms_per_beat"] == round(
            run["worker_cpu_s_per_1000_beats"] - run["model_cpu_s_per_1000_beats"], 3)
    assert report["beyond_model_ms_per_beat"] == main["beyond_model_ms_per_beat"]
    assert report["hand_loop_beyond_model_ms_per_beat"] == hand["beyond_model_ms_per_beat"]
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert (tmp_path / "bench.json").exists()
