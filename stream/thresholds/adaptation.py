"""Per-patient adaptation: the learning period, then beats judged against the patient's normal.

Pure: no Redis or Kafka here. The caller keeps each patient's :class:`PatientState` (the
worker in Redis, the offline evaluation in memory) and passes it in; :func:`judge_batch`
updates the states of one micro-batch and says which changed.

A patient the model does not know (a real feed) learns its normal from the first
``learning_s`` seconds of its signal (:mod:`stream.thresholds.normal`); its beats meanwhile
are marked ``learning`` and never anomalous (no alert comes from them). Afterwards a beat is
anomalous for **morphology** when far from the patient's template, for **rhythm** when
premature (:mod:`stream.segmentation.rhythm`), or both. A patient the model knows (the
ECG5000 replays declare it) has no learning period: the calibrated model threshold judges
it, as in beat mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from stream.thresholds.normal import Learner, PatientNormal

Reason = Literal["morphology", "rhythm", "both"]


@dataclass
class PatientState:
    """One patient's adaptation: where its learning began, its learner or its normal.

    Attributes:
        learn_from: signal time (s) of the patient's first beat seen; learning lasts
            ``learning_s`` from there (longer when too few beats came).
        learner: the learning period's beats (None once learned).
        normal: the learned normal (None while learning).
    """

    learn_from: float
    learner: Learner | None = None
    normal: PatientNormal | None = None


@dataclass(frozen=True)
class Judgement:
    """How one beat of a patient the model does not know was judged."""

    learning: bool
    distance: float | None
    threshold: float | None
    anomalous: bool
    reason: Reason | None


def judge_batch(states: dict[str, PatientState], patients: Sequence[str],
                times_s: Sequence[float], grids: NDArray[np.floating],
                sizes: NDArray[np.floating], premature: Sequence[bool | None],
                learning_s: float, version: str) -> tuple[list[Judgement], set[str]]:
    """Judge a micro-batch's beats (in arrival order) and update the patients' states.

    Args:
        states: per patient, updated in place; a patient not in it starts learning.
        patients: each beat's patient.
        times_s: each beat's signal time (its R peak), seconds.
        grids: ``(n, 90)`` the beats on the time grid (:func:`~stream.thresholds.normal.time_grid`).
        sizes: ``(n,)`` their log QRS amplitudes (:func:`~stream.thresholds.normal.log_size`).
        premature: each beat's prematurity (None: undecided).
        learning_s: length of the learning period, seconds of the patient's signal.
        version: the normal's version (a learned normal of another version is relearned).

    Returns:
        The judgements and the patients whose state changed (to be stored: a learner took a
        beat, a normal was learned, or a beat judged normal moved the size median).
    """
    out: list[Judgement] = []
    changed: set[str] = set()
    for i, patient in enumerate(patients):
        state = states.get(patient)
        if state is None or (state.normal is not None and state.normal.version != version):
            state = states[patient] = PatientState(times_s[i], Learner())
            changed.add(patient)
        if state.normal is None:
            learner = state.learner = state.learner or Learner()
            ended = times_s[i] - state.learn_from >= learning_s
            normal = learner.normal(version) if ended else None
            changed.add(patient)
            if normal is None:
                learner.add(grids[i], float(sizes[i]))
                out.append(Judgement(True, None, None, False, None))
                continue
            state.normal, state.learner = normal, None
        d, far = state.normal.judge(grids[i : i + 1], sizes[i : i + 1])
        if not far[0]:
            moved = state.normal.follow_size(float(sizes[i]))
            if moved is not state.normal:  # unchanged where the size is unknown: no write
                state.normal = moved
                changed.add(patient)
        rhythm = bool(premature[i])
        reason: Reason | None = ("both" if far[0] and rhythm else "morphology" if far[0]
                                 else "rhythm" if rhythm else None)
        out.append(Judgement(False, float(d[0]), state.normal.threshold, reason is not None,
                             reason))
    return out, changed


def learned(states: Mapping[str, PatientState]) -> dict[str, PatientNormal]:
    """The patients that finished learning, and their normals."""
    return {p: s.normal for p, s in states.items() if s.normal is not None}
