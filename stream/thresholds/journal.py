"""The statistics journal: threshold-statistics updates that Redis did not take, kept in Kafka.

While Redis is away the worker judges beats on the static threshold and publishes each
batch's statistics updates to ``ECG_TOPIC_STATS_JOURNAL``, together with the batch's score
records and before the batch's input offsets are committed. The worker's journal agent merges
each journal record into Redis once Redis answers, guarded by the record's offset
(:meth:`stream.thresholds.redis_store.RedisStatsStore.merge_journal`). So an update made in degraded
mode survives a SIGKILL of the worker that made it (the record is in Kafka; whichever worker
owns its partition merges it), and counts once even when delivered twice.

Record (JSON, key = the publishing worker's id)::

    {"schema": 1, "worker": "host:pid", "created_ms": 1764600000000,
     "updates": {"patient-7": [count, mean, m2, ewma, ewma_w], "": [...]}}

``""`` is the global statistics (:data:`stream.thresholds.policy.GLOBAL_STATS`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stream.thresholds.policy import RunningStats

log = logging.getLogger(__name__)
JOURNAL_SCHEMA = 1
RETRY_S = (0.25, 0.5, 1.0, 2.0)
"""Waits between merge attempts while Redis is away (the last one repeats)."""


class JournalError(ValueError):
    """A journal record that cannot be read."""


def encode_journal(updates: Mapping[str, RunningStats], worker: str, created_ms: int) -> bytes:
    """One journal record for a batch's unmerged statistics updates."""
    body = {p: [s.count, s.mean, s.m2, s.ewma, s.ewma_weight] for p, s in updates.items()}
    return json.dumps({"schema": JOURNAL_SCHEMA, "worker": worker, "created_ms": created_ms,
                       "updates": body}, separators=(",", ":")).encode()


def decode_journal(value: bytes | None) -> dict[str, RunningStats]:
    """The updates of one journal record; :class:`JournalError` when it is not one."""
    try:
        doc = json.loads(value or b"")
        if doc.get("schema") != JOURNAL_SCHEMA:
            msg = f"journal schema {doc.get('schema')!r}, expected {JOURNAL_SCHEMA}"
            raise JournalError(msg)
        updates = {str(p): _stats(v) for p, v in doc["updates"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise JournalError(str(exc)[:200]) from None
    return updates


def _stats(fields: list[float]) -> RunningStats:
    count, mean, m2, ewma, weight = fields
    values = (mean, m2, ewma, weight)
    if int(count) != count or count < 0 or not all(math.isfinite(float(v)) for v in values):
        msg = f"bad statistics {fields!r}"
        raise JournalError(msg)
    return RunningStats(int(count), float(mean), float(m2), float(ewma), float(weight))


class JournalStore(Protocol):
    """What the merger needs of the statistics store."""

    async def merge_journal(self, updates: Mapping[str, RunningStats], topic: str,
                            partition: int, offset: int) -> bool:
        """Merge unless this (topic, partition, offset) was merged before; raises when away."""


@dataclass
class JournalCounts:
    """What the journal agent did."""

    merged: int = 0
    duplicates: int = 0
    malformed: int = 0


class JournalMerger:
    """Merges journal records into the store, waiting for it while it is away."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.counts = JournalCounts()

    async def apply(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """Merge one record; return only once the store took it (or it was unreadable)."""
        try:
            updates = decode_journal(value)
        except JournalError as exc:
            self.counts.malformed += 1
            log.error("statistics journal %s[%d]@%d unreadable, skipped: %s", topic, partition,
                      offset, exc)
            return
        attempt = 0
        while True:
            try:
                merged = await self.store.merge_journal(updates, topic, partition, offset)
            except Exception as exc:  # noqa: BLE001 - Redis away: wait for it, never skip
                if attempt == 0:
                    log.warning("statistics journal: Redis unavailable (%r); waiting to merge "
                                "%s[%d]@%d", exc, topic, partition, offset)
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                continue
            if merged:
                self.counts.merged += 1
            else:
                self.counts.duplicates += 1
            return
