import numpy as np
import pytest
import torch

from models.bench import beats_per_second, cpu_seconds_per_1000, run_bench
from models.detector import Detector
from models.network import LstmAutoencoder


def test_beats_per_second_counts_beats():
    calls = []
    rate = beats_per_second(calls.append, np.zeros((4, 140), np.float32), 0.01, 2)
    assert rate > 0 and len(calls) >= 3


def test_run_bench_document_keys():
    torch.manual_seed(0)
    detector = Detector(LstmAutoencoder(140, (8, 4)).eval(), 1.0, "tiny", "torch")
    report = run_bench(detector, batches=(1, 4), seconds=0.02, repeats=1)
    assert {"results", "best_beats_per_s", "reference_beats_per_s", "ratio"} <= set(report)
    assert [(r["model"].split(":")[0], r["batch"]) for r in report["results"]] == [
        ("tiny", 1), ("tiny", 4), ("reference-256-128", 1)]
    ratio = report["best_beats_per_s"] / report["reference_beats_per_s"]
    assert report["ratio"] == pytest.approx(ratio, rel=1e-3)


def test_cpu_seconds_per_1000_scores_every_size_and_counts_the_model_only():
    torch.manual_seed(0)
    detector = Detector(LstmAutoencoder(140, (8, 4)).eval(), 1.0, "tiny", "torch")
    seen = []
    real = detector.score
    detector.score = lambda beats: seen.append(len(beats)) or real(beats)  # type: ignore[method-assign]
    cost = cpu_seconds_per_1000(detector, [3, 128, 7], budget_s=0.05)
    assert cost > 0
    assert seen[:3] == [3, 7, 128]  # every size warmed first
    timed = seen[3:]
    assert len(timed) >= 3 and set(timed[:3]) == {3, 7, 128}  # then drawn, each in turn
    many = cpu_seconds_per_1000(detector, [4] * 100_000, budget_s=0.02)
    assert many > 0  # a long run's sizes: bounded by the budget, not scored in full
    with pytest.raises(ValueError, match="no batch sizes"):
        cpu_seconds_per_1000(detector, [])
