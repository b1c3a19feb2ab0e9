"""The statistics journal: records round-trip, broken ones are refused, Redis outages waited out."""

from __future__ import annotations

import asyncio

import pytest

from stream.thresholds import journal
from stream.thresholds.journal import JournalError, JournalMerger, decode_journal, encode_journal
from stream.thresholds.policy import GLOBAL_STATS, RunningStats
from tests.fakes import InMemoryJournalStore


def test_round_trip() -> None:
    updates = {"p1": RunningStats.from_values([1.0, 2.0, 4.0]),
               GLOBAL_STATS: RunningStats.from_values([1.0, 2.0, 4.0, 8.0])}
    assert decode_journal(encode_journal(updates, "w:1", 5)) == updates


@pytest.mark.parametrize("value", [b"", b"{", b'{"schema": 2, "updates": {}}',
                                   b'{"schema": 1, "updates": {"p": [1, 0.5]}}',
                                   b'{"schema": 1, "updates": {"p": [1.5, 0, 0, 0, 1]}}',
                                   b'{"schema": 1, "updates": {"p": [1, NaN, 0, 0, 1]}}',
                                   b'{"schema": 1, "updates": []}', b"[1]"])
def test_broken_records_are_refused(value: bytes) -> None:
    with pytest.raises(JournalError):
        decode_journal(value)


async def test_merger_waits_for_redis_and_counts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "RETRY_S", (0.0,))
    merger = JournalMerger(InMemoryJournalStore(failures=3))
    value = encode_journal({"p": RunningStats.from_values([1.0])}, "w", 1)
    await asyncio.wait_for(merger.apply("j", 0, 7, value), 5)
    await merger.apply("j", 0, 7, value)  # redelivered after a crash
    await merger.apply("j", 0, 8, b"junk")
    assert (merger.counts.merged, merger.counts.duplicates, merger.counts.malformed) == (1, 1, 1)
