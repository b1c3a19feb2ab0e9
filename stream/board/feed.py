"""The ward board's input: every partition of the output topics (and the signal), no group.

The board is a reader, not a member of any consumer group: it assigns itself every partition
of ``ecg.scores``, ``ecg.alerts``, ``ecg.events``, ``ecg.signal`` and ``ecg.beats`` (so it
sees every patient whatever worker scores them), starts ``lookback_s`` before now (by record
timestamp; the signal only ``strip_s`` before), commits nothing, and looks for topics and
partitions created later every few seconds. A record it cannot read is counted by topic
(``invalid``) and skipped: the board shows what it can, it never stops on one record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.board.state import Board
from stream.clients.kafka import aiokafka_config
from stream.settings import Settings
from stream.wire.decode import RawInput, decode_beat, decode_frame
from stream.wire.schemas import BeatMessage, FrameMessage

log = logging.getLogger(__name__)
RESCAN_S = 5.0
"""How often the board looks for topics or partitions created after it started."""
KINDS = ("scores", "alerts", "events", "signal", "beats")


@dataclass
class FeedCounts:
    """Records read and records skipped (not readable), by kind of topic; lag by partition."""

    read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    lag: dict[str, int] = field(default_factory=dict)
    partitions: int = 0
    newest_record_ms: int | None = None


def _raw(message: Any) -> RawInput:
    return RawInput(topic=message.topic, partition=message.partition, offset=message.offset,
                    key=message.key, value=message.value, received_ms=time.time_ns() // 10**6)


class BoardFeed:
    """Reads the topics into a :class:`Board` until stopped."""

    def __init__(self, settings: Settings, board: Board, lookback_s: float) -> None:
        self.settings, self.board, self.lookback_s = settings, board, lookback_s
        self.kind = {settings.topic_scores: "scores", settings.topic_alerts: "alerts",
                     settings.topic_events: "events", settings.topic_signal: "signal",
                     settings.topic_beats: "beats"}
        self.counts = FeedCounts()
        self.ready = asyncio.Event()
        self._assigned: set[TopicPartition] = set()

    def take(self, messages: Iterable[Any]) -> None:
        """Hand one fetched batch to the board; unreadable records are counted and skipped."""
        now = time.time_ns() // 10**6
        limit = self.settings.max_payload_bytes
        for message in messages:
            kind = self.kind.get(message.topic)
            if kind is None:
                continue
            self.counts.read[kind] += 1
            stamp = getattr(message, "timestamp", None)
            if isinstance(stamp, int):
                self.counts.newest_record_ms = max(self.counts.newest_record_ms or 0, stamp)
            try:
                self._take_one(kind, message, now, limit)
            except Exception as exc:  # noqa: BLE001 - one record never stops the board
                self.counts.invalid[kind] += 1
                log.debug("board: skipped %s record %s[%d]@%d: %s", kind, message.topic,
                          message.partition, message.offset, exc)

    def _take_one(self, kind: str, message: Any, now: int, limit: int) -> None:
        """One record to the board; an exception when it cannot be read."""
        if kind == "signal":
            frame = decode_frame(_raw(message), limit)
            if not isinstance(frame, FrameMessage):
                raise ValueError(frame.reason)
            if not self.settings.min_sampling_rate <= frame.fs <= self.settings.max_sampling_rate:
                msg = f"fs {frame.fs} outside the sampling rates the worker segments"
                raise ValueError(msg)
            self.board.take_frame(frame.patient, frame.start_sample, frame.fs, frame.units,
                                  np.asarray(frame.samples, np.float32), now)
        elif kind == "beats":
            beat = decode_beat(_raw(message), limit)
            if not isinstance(beat, BeatMessage):
                raise ValueError(beat.reason)
            self.board.take_beat(beat.patient, beat.seq, np.asarray(beat.samples, np.float32),
                                 now)
        else:
            record = json.loads(message.value)
            if not isinstance(record, dict) or not isinstance(record.get("patient"), str):
                msg = "not a record of a patient"
                raise ValueError(msg)
            getattr(self.board, f"take_{kind[:-1]}")(record, now)

    async def _partitions(self, admin: AIOKafkaAdminClient) -> set[TopicPartition]:
        """Every partition of the board's topics that exist (none is created by asking)."""
        present = set(await admin.list_topics()) & set(self.kind)
        if not present:
            return set()
        found = await admin.describe_topics(sorted(present))
        return {TopicPartition(t["topic"], p["partition"]) for t in found
                if not t.get("error_code") for p in t["partitions"]}

    async def _assign(self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> None:
        """Assign every partition of the topics present; new ones start at the lookback."""
        wanted = await self._partitions(admin)
        new = wanted - self._assigned
        if not new:
            return
        kept = {tp: await consumer.position(tp) for tp in self._assigned & wanted}
        consumer.assign(sorted(wanted))
        for tp, offset in kept.items():
            consumer.seek(tp, offset)
        now_ms = time.time_ns() // 10**6
        starts: dict[TopicPartition, int] = {}
        for tp in new:
            back = min(self.lookback_s, self.board.strip_s + 2) if (
                self.kind[tp.topic] == "signal") else self.lookback_s
            starts[tp] = max(0, now_ms - round(back * 1000))
        found = await consumer.offsets_for_times(starts)
        for tp in new:
            at = found.get(tp)
            if at is None:
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, at.offset)
        self._assigned = wanted
        self.counts.partitions = len(wanted)
        log.info("board: reading %d partitions of %s", len(wanted),
                 ", ".join(sorted({tp.topic for tp in wanted})))

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Records not yet read, by kind of topic (high watermark minus position)."""
        lag: dict[str, int] = {}
        for tp in self._assigned:
            high = consumer.highwater(tp)
            if high is None:
                continue
            kind = self.kind[tp.topic]
            lag[kind] = lag.get(kind, 0) + max(0, high - await consumer.position(tp))
        self.counts.lag = lag

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set (fetches wait at most 100 ms, so updates stay prompt)."""
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest",
                                    fetch_max_wait_ms=100, client_id="ecg-board")
        admin = AIOKafkaAdminClient(**aiokafka_config(self.settings), client_id="ecg-board")
        await consumer.start()
        await admin.start()
        try:
            await self._assign(consumer, admin)
            self.ready.set()
            rescan = lag_at = time.monotonic() + RESCAN_S
            while not stop.is_set():
                if not self._assigned or time.monotonic() >= rescan:
                    await self._assign(consumer, admin)
                    rescan = time.monotonic() + RESCAN_S
                if not self._assigned:
                    await asyncio.sleep(0.5)
                    continue
                batch = await consumer.getmany(timeout_ms=100, max_records=5000)
                for messages in batch.values():
                    self.take(messages)
                if time.monotonic() >= lag_at:
                    await self._update_lag(consumer)
                    lag_at = time.monotonic() + 1.0
        finally:
            await admin.close()
            await consumer.stop()
