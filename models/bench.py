"""Scorer throughput by batch size, with the reference architecture measured in the same run."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from models.backends import RuntimeName
from models.detector import Detector, load_detector
from models.network import REFERENCE_HIDDEN, LstmAutoencoder
from models.preprocess import BEAT_LENGTH

logger = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def beats_per_second(score: Callable[[NDArray[np.float32]], Any], beats: NDArray[np.float32],
                     seconds: float, repeats: int) -> float:
    """Best of ``repeats`` timed windows of about ``seconds`` each, after one warm-up call.

    Args:
        score: called on the whole ``beats`` batch each time.
        beats: float32 ``(batch, 140)``.
        seconds: length of one timing window.
        repeats: number of windows; the fastest counts (other load on the CPU only slows).
    """
    score(beats)
    best = 0.0
    for _ in range(repeats):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            score(beats)
            calls += 1
        best = max(best, calls * len(beats) / elapsed)
    return best


def cpu_seconds_per_1000(detector: Detector, sizes: Sequence[int], budget_s: float = 2.0,
                         seed: int = 0) -> float:
    """CPU seconds the model alone takes per 1,000 beats scored in batches of ``sizes``.

    Sizes are drawn from ``sizes`` (a seeded random order, cycled) until the calls took
    ``budget_s`` of CPU time in all, so a run of any length costs about that long; each call
    is timed by this thread's CPU clock (the detector's one torch thread runs its work on
    the calling thread); beats are random noise (the time does not depend on the values).
    What the worker spends beyond the model is its CPU per 1,000 beats minus this, at the
    batch sizes its run saw.
    """
    sizes = [int(n) for n in sizes if n > 0]
    if not sizes:
        msg = "no batch sizes"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    beats = rng.standard_normal((max(sizes), BEAT_LENGTH)).astype(np.float32)
    for size in sorted(set(sizes)):  # warm every shape first (the worker warmed up too)
        detector.score(beats[:size])
    order = rng.permutation(len(sizes))
    cpu, scored, i = 0.0, 0, 0
    while cpu < budget_s:
        size = sizes[order[i % len(sizes)]]
        started = time.thread_time()
        detector.score(beats[:size])
        cpu += time.thread_time() - started
        scored += size
        i += 1
    return 1000.0 * cpu / scored


def reference_model(seed: int = 0) -> LstmAutoencoder:
    """The reference notebook's architecture (LSTM 1->256->128 / 128->128->256), seeded weights.

    The one reference model: ``model bench`` and ``ecg-stream bench`` both measure it.
    """
    torch.manual_seed(seed)
    return LstmAutoencoder(BEAT_LENGTH, REFERENCE_HIDDEN).eval()


def reference_detector(num_threads: int, seed: int = 0) -> Detector:
    """:func:`reference_model` as a torch fp32 detector."""
    return Detector(reference_model(seed), 0.0, "reference", "torch", num_threads)


def untrained_detector(hidden: tuple[int, ...], runtime: RuntimeName, num_threads: int,
                       seed: int = 0) -> Detector:
    """A seeded random-weight model of the given sizes, for speed curves only."""
    torch.manual_seed(seed)
    model = LstmAutoencoder(BEAT_LENGTH, hidden).eval()
    return Detector(model, 0.0, f"untrained-{'-'.join(map(str, hidden))}", runtime, num_threads)


def run_bench(detector: Detector, batches: Sequence[int] = DEFAULT_BATCHES,
              seconds: float = 1.0, repeats: int = 3, seed: int = 0,
              processes: int = 1, checkpoint: str | None = None) -> dict[str, Any]:
    """Measure ``detector`` at each batch size and the reference model at batch 1.

    Args:
        detector: the scorer to measure, with its thread count set.
        batches: batch sizes.
        seconds: length of one timing window.
        repeats: windows per measurement; the best counts.
        seed: seed of the random beats and of the reference model's weights.
        processes: when > 1, also measure this many single-thread processes side by side
            (checkpoint ``checkpoint``) at the batch sizes >= 32.
        checkpoint: checkpoint directory for the extra processes (None: the shipped one).

    Returns:
        The ``model bench --json`` document: ``results``, ``best_beats_per_s``,
        ``best_batch``, ``reference_beats_per_s``, ``ratio`` and the settings used.
    """
    rng = np.random.default_rng(seed)
    beats = rng.standard_normal((max(batches), detector.seq_len)).astype(np.float32)
    name = f"{detector.version}:{detector.runtime_name}"
    results: list[dict[str, Any]] = []
    for batch in batches:
        rate = beats_per_second(detector.score, beats[:batch], seconds, repeats)
        results.append({"model": name, "batch": batch, "beats_per_s": round(rate, 1),
                        "threads": detector.num_threads, "processes": 1})
        logger.info("%s batch %d: %.0f beats/s", name, batch, rate)
    for batch in [b for b in batches if b >= 32] if processes > 1 else []:
        rate = multi_process_rate(checkpoint, detector.runtime_name, batch, processes,
                                  seconds, repeats)
        results.append({"model": name, "batch": batch, "beats_per_s": round(rate, 1),
                        "threads": 1, "processes": processes})
    reference = reference_detector(detector.num_threads, seed)
    ref_rate = round(beats_per_second(reference.score, beats[:1], seconds, repeats), 1)
    detector.num_threads = detector.num_threads  # the reference set torch's global count
    best = max(results, key=lambda row: row["beats_per_s"])
    single = max((r for r in results if r["processes"] == 1), key=lambda r: r["beats_per_s"])
    results.append({"model": "reference-256-128:torch", "batch": 1, "beats_per_s": ref_rate,
                    "threads": detector.num_threads, "processes": 1})
    return {
        "results": results, "best_beats_per_s": best["beats_per_s"], "best_batch": best["batch"],
        "best_processes": best["processes"], "reference_beats_per_s": ref_rate,
        "ratio": round(best["beats_per_s"] / ref_rate, 2),
        "ratio_single_process": round(single["beats_per_s"] / ref_rate, 2),
        "threads": detector.num_threads, "runtime": detector.runtime_name,
        "seconds_per_window": seconds, "repeats": repeats, "torch": torch.__version__,
    }


def _process_rate(args: tuple[str | None, RuntimeName, int, float, int]) -> float:
    """Worker of :func:`multi_process_rate`: one single-thread detector in its own process."""
    path, runtime, batch, seconds, repeats = args

    detector = load_detector(Path(path) if path else None, runtime, num_threads=1)
    beats = np.random.default_rng(0).standard_normal((batch, detector.seq_len)).astype(np.float32)
    return beats_per_second(detector.score, beats, seconds, repeats)


def multi_process_rate(path: str | None, runtime: RuntimeName, batch: int, processes: int,
                       seconds: float, repeats: int) -> float:
    """Total beats/s of ``processes`` single-thread scorer processes running side by side.

    This is how the stream scales on several cores (one worker process per core), which
    measured faster here than one process with several intra-op threads.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        rates = pool.map(_process_rate, [(path, runtime, batch, seconds, repeats)] * processes)
    return float(sum(rates))
