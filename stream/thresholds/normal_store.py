"""Patients' learned normals and learning buffers in Redis (continuous mode, adaptation).

Key layout: ``{prefix}:normal:p:{patient}``, a hash with the fields

* ``v`` - the rule's version (:data:`stream.thresholds.normal.NORMAL_VERSION`) it was made by;
* ``from`` - signal time (s) of the patient's first beat: its learning period starts there;
* ``kind`` - ``learning`` (``blob`` is a :class:`~stream.thresholds.normal.Learner`, at most
  23.3 KB) or ``learned`` (``blob`` is a :class:`~stream.thresholds.normal.PatientNormal`,
  about 0.4 KB);
* ``blob`` - the encoded state.

A key expires ``ttl_s`` after its last write (``ECG_STATS_TTL_S``; 0: never); a learned normal
is written once, so it lives ``ttl_s`` from the end of the learning period unless the
patient relearns (:meth:`RedisNormalStore.delete`, ``ecg-stream relearn``). A patient's frames
reach one worker at a time (partitions are keyed by patient): the owner reads the state
before a micro-batch and writes what changed after it; during a rebalance two owners may
both write a learning buffer, and the last write wins (a few learning beats lost, never a
learned normal: it is only replaced by relearning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis.asyncio as aioredis

from stream.thresholds.adaptation import PatientState
from stream.thresholds.normal import Learner, PatientNormal
from stream.thresholds.redis_store import hmget_many

FIELDS = ("v", "from", "kind", "blob")


class RedisNormalStore:
    """Per-patient :class:`PatientState` in Redis hashes under ``prefix``; errors propagate."""

    def __init__(self, client: aioredis.Redis, prefix: str, version: str,
                 ttl_s: float = 0.0) -> None:
        self._client, self._prefix, self._version = client, prefix, version
        self._ttl_ms = max(0, round(ttl_s * 1000))

    def key(self, patient: str) -> str:
        """The Redis key of ``patient``'s state."""
        return f"{self._prefix}:normal:p:{patient}"

    async def fetch(self, patients: Iterable[str]) -> dict[str, PatientState]:
        """The states Redis holds for ``patients`` (one round trip); others are left out.

        A state made by another version of the rule, or one that does not decode, is left
        out too: the patient learns again.
        """
        rows = await hmget_many(self._client, {p: self.key(p) for p in patients}, FIELDS)
        found = {}
        for patient, (version, start, kind, blob) in rows.items():
            if version is None or version.decode() != self._version or blob is None \
                    or start is None:
                continue
            try:
                if kind == b"learned":
                    found[patient] = PatientState(float(start), None,
                                                  PatientNormal.from_bytes(blob))
                else:
                    found[patient] = PatientState(float(start), Learner.from_bytes(blob))
            except ValueError:
                continue
        return found

    async def store(self, states: Mapping[str, PatientState]) -> int:
        """Write ``states`` (one round trip); returns the bytes of state written."""
        if not states:
            return 0
        written = 0
        async with self._client.pipeline(transaction=False) as pipe:
            for patient, state in states.items():
                if state.normal is not None:
                    kind, blob = "learned", state.normal.to_bytes()
                elif state.learner is not None:
                    kind, blob = "learning", state.learner.to_bytes()
                else:
                    continue
                key = self.key(patient)
                pipe.hset(key, mapping={"v": self._version, "from": repr(state.learn_from),
                                        "kind": kind, "blob": blob})
                if self._ttl_ms:
                    pipe.pexpire(key, self._ttl_ms)
                written += len(blob)
            await pipe.execute()
        return written

    async def delete(self, patients: Iterable[str]) -> int:
        """Forget ``patients``' normals (they learn again from their next beat)."""
        keys = [self.key(patient) for patient in patients]
        return int(await self._client.delete(*keys)) if keys else 0
