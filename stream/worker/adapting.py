"""The worker's side of per-patient adaptation: states from Redis, one judgement a batch.

Continuous-mode beats of patients the model does not know (frames of schema 1, or schema 2
without ``known_to_model``) are judged by :func:`stream.thresholds.adaptation.judge_batch`
against each patient's learned normal, their states read from Redis before the micro-batch
and the changed ones written after it. Beat-mode beats and patients the model knows keep the
model's decision. When Redis is away those beats keep the model's decision too, marked
``degraded`` (a learning period is never judged from a worker's memory alone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

import numpy as np

from stream.beats import PendingBeat
from stream.thresholds.adaptation import Judgement, PatientState, judge_batch
from stream.thresholds.normal import log_size, time_grid

log = logging.getLogger(__name__)


class NormalStore(Protocol):
    """What :class:`AdaptationGate` needs of the state store (``RedisNormalStore``)."""

    async def fetch(self, patients: Iterable[str]) -> dict[str, PatientState]:
        """The states held for ``patients``; raises when the store is away."""

    async def store(self, states: Mapping[str, PatientState]) -> int:
        """Write states; raises when the store is away."""


def adapts(beat: PendingBeat) -> bool:
    """Whether ``beat`` is judged against its patient's own normal."""
    return beat.mode == "continuous" and not beat.known_to_model and beat.fs > 0


class AdaptationGate:
    """Judges a micro-batch's beats of patients the model does not know."""

    def __init__(self, store: NormalStore | None, learning_s: float, version: str) -> None:
        self.store, self.learning_s, self.version = store, learning_s, version
        self.degraded = False
        self.bytes_written = 0

    async def judge(self, beats: list[PendingBeat]) -> tuple[list[Judgement | None], bool]:
        """Per beat, its judgement (None: the model's decision stands) and whether degraded."""
        chosen = [i for i, b in enumerate(beats) if adapts(b)]
        out: list[Judgement | None] = [None] * len(beats)
        if not chosen or self.learning_s <= 0:
            return out, False
        if self.store is None:
            return out, True
        mine = [beats[i] for i in chosen]
        try:
            states = await self.store.fetch(b.patient for b in mine)
        except Exception as exc:  # noqa: BLE001 - any Redis/OS error means degraded
            self._set_degraded(True, exc)
            return out, True
        changed: set[str] = set()
        for fs in {b.fs for b in mine}:  # one grid per rate
            group = [(i, b) for i, b in zip(chosen, mine, strict=True) if b.fs == fs]
            grids = time_grid(np.stack([b.samples for _, b in group]),
                              [b.resampled_from or len(b.samples) for _, b in group], fs)
            times = [(b.fiducial_sample if b.fiducial_sample is not None
                      else b.onset_sample or 0) / fs for _, b in group]
            results, moved = judge_batch(states, [b.patient for _, b in group], times, grids,
                                         log_size([b.amplitude for _, b in group]),
                                         [b.premature for _, b in group], self.learning_s,
                                         self.version)
            changed |= moved
            for (i, _), result in zip(group, results, strict=True):
                out[i] = result
        try:
            self.bytes_written += await self.store.store({p: states[p] for p in changed})
        except Exception as exc:  # noqa: BLE001
            self._set_degraded(True, exc)
            return out, True
        self._set_degraded(False)
        return out, False

    def _set_degraded(self, value: bool, exc: Exception | None = None) -> None:
        if value and not self.degraded:
            log.warning("adaptation degraded: Redis unavailable (%r); new patients judged on "
                        "the model's threshold meanwhile", exc)
        elif not value and self.degraded:
            log.warning("adaptation resumed: Redis is back")
        self.degraded = value
