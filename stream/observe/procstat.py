"""Sample a process's CPU time and memory from /proc (Linux), and consumer-group lag."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from stream.clients.kafka import kafka_python_config
from stream.settings import Settings

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of ``pid`` in MiB, from /proc/PID/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class Sampler(threading.Thread):
    """Every ``interval`` seconds: CPU and RSS of each pid, and the group's lag on a topic."""

    def __init__(self, settings: Settings, topic: str, pids: list[int], interval: float = 0.5):
        super().__init__(daemon=True)
        self.settings, self.topic, self.pids, self.interval = settings, topic, pids, interval
        self.procs: dict[int, list[dict[str, Any]]] = {pid: [] for pid in pids}
        self.lag: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        from kafka import KafkaConsumer  # local: kafka-python loads only when used (fast --help)
        from kafka.admin import (
            KafkaAdminClient,  # local: kafka-python loads only when used (fast --help)
        )

        config = kafka_python_config(self.settings)
        admin, consumer = KafkaAdminClient(**config), KafkaConsumer(**config)
        begin = time.monotonic()
        try:
            while not self._stop_event.wait(self.interval):
                now = time.monotonic() - begin
                self._sample_procs(now)
                self.lag.append((now, self._lag(admin, consumer)))
        finally:
            admin.close()
            consumer.close()

    def _sample_procs(self, now: float) -> None:
        for pid in self.pids:
            try:
                rss, peak = memory_mb(pid)
                self.procs[pid].append({"t": now, "cpu_s": cpu_seconds(pid), "rss_mb": rss,
                                        "peak_rss_mb": peak})
            except OSError:
                continue

    def _lag(self, admin: Any, consumer: Any) -> int:
        from kafka import TopicPartition  # local: kafka-python loads only when used (fast --help)

        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in parts]
            ends = consumer.end_offsets(tps)
            group = self.settings.worker_group
            committed = admin.list_group_offsets(group).get(group, {})
        except Exception:  # noqa: BLE001 - a missed sample is not a failed benchmark
            return -1
        return int(sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps))

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join(timeout=10)
