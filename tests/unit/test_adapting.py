"""The worker's adaptation step: who is judged on a learned normal, learning, degraded mode."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from models.preprocess import resample_beat, znormalize
from stream.beats import PendingBeat
from stream.thresholds.adaptation import PatientState
from stream.thresholds.normal import NORMAL_VERSION
from stream.thresholds.policy import ThresholdPolicy
from stream.worker.adapting import AdaptationGate
from stream.worker.memory import MemoryNormalStore, MemoryStatsStore
from stream.worker.scoring import BatchScorer, ThresholdGate

FS = 360.0


def shape(length: int, width: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length) / FS
    x = (np.exp(-0.5 * ((t - 0.021) / width) ** 2) + 0.3 * np.exp(-0.5 * ((t - 0.3) / 0.05) ** 2)
         + rng.normal(0, 0.01, length))
    return znormalize(resample_beat(x, 140))


def beats(patient: str, count: int, *, known: bool = False, width: float = 0.012,
          first: int = 0, mode: str = "continuous", seed: int = 0) -> list[PendingBeat]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(first, first + count):
        onset = i * 300
        out.append(PendingBeat(patient, mode, i, onset, shape(300, width, rng), 300, 0, 0,  # type: ignore[arg-type]
                               fiducial_sample=onset + 8, fs=FS, rr_before=300, rr_after=300,
                               premature=False, amplitude=1.5, known_to_model=known))
    return out


class Away:
    """A store whose Redis is down."""

    async def fetch(self, patients: Iterable[str]) -> dict[str, PatientState]:
        raise ConnectionError("redis away")

    async def store(self, states: Mapping[str, PatientState]) -> int:
        raise ConnectionError("redis away")


def scorer(store: object, learning_s: float = 60.0) -> BatchScorer:
    gate = ThresholdGate(ThresholdPolicy(static_threshold=10.0, mode="static"),
                         MemoryStatsStore())
    adaptation = AdaptationGate(store, learning_s, NORMAL_VERSION)  # type: ignore[arg-type]
    return BatchScorer(lambda x: np.full(len(x), 50.0, dtype=np.float32), gate, "m1", "w",
                       adaptation=adaptation)


async def test_a_new_patient_learns_then_is_judged_on_its_normal() -> None:
    store = MemoryNormalStore()
    run = scorer(store)
    learning = (await run.score(beats("p", 72))).records  # a beat every 0.83 s: 0-59.2 s
    assert {r.judged_by for r in learning} == {"learning"}
    assert not any(r.anomalous for r in learning)  # no alert from the learning period
    judged = (await run.score(beats("p", 40, first=72, seed=1))).records
    assert {r.judged_by for r in judged} == {"patient"}
    assert sum(r.anomalous for r in judged) <= 1  # the model's score (50 > 10) does not count
    assert all(r.morphology_threshold == 6.0 and r.morphology_distance is not None for r in judged)
    wide = (await run.score(beats("p", 5, first=112, width=0.03, seed=2))).records
    assert all(r.anomalous and r.anomaly_reason == "morphology" for r in wide)
    assert store.states["p"].normal is not None


async def test_known_patients_and_beat_mode_keep_the_models_decision() -> None:
    store = MemoryNormalStore()
    records = (await scorer(store).score(beats("k", 5, known=True)
                                         + beats("b", 5, mode="beat"))).records
    assert {r.judged_by for r in records} == {"model"}
    assert all(r.anomalous and r.anomaly_reason == "model" for r in records)
    assert store.states == {}


async def test_redis_away_keeps_the_models_decision_marked_degraded() -> None:
    records = (await scorer(Away()).score(beats("p", 3) + beats("k", 2, known=True))).records
    assert [r.degraded for r in records] == [True, True, True, False, False]
    assert {r.judged_by for r in records} == {"model"}


async def test_learning_off_judges_everyone_on_the_model() -> None:
    records = (await scorer(MemoryNormalStore(), learning_s=0.0).score(beats("p", 3))).records
    assert {r.judged_by for r in records} == {"model"} and not any(r.degraded for r in records)
