"""Threshold statistics in Redis: one read and one atomic merge per micro-batch.

Key layout (all hashes, fields ``count``, ``mean``, ``m2``, ``ewma``, ``ewma_w``):

* ``{prefix}:stats:p:{patient}`` - one patient's statistics; it expires ``ttl_s`` after the
  patient's last merged beat (``ECG_STATS_TTL_S``; 0: never), so patients gone do not fill Redis;
* ``{prefix}:stats:global`` - all patients together (never expires);
* ``{prefix}:journal:{topic}:{partition}`` - offset of the last statistics-journal record
  merged from that partition (see :mod:`stream.thresholds.journal`).

The read and the merge are Lua scripts run with EVALSHA, one command each per batch. Redis
runs a script atomically, so workers that merge concurrently serialise and no update is
lost; a restarted worker reads what is there.
A journal record is merged by the same script guarded by its offset, so a record delivered
twice (after a crash) is counted once.
On Redis Cluster every key of one call must hash to one slot: use a hash-tag prefix such as
``{ecg}``. Redis errors propagate: the caller decides about degraded mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis

from stream.settings import Settings
from stream.thresholds.policy import GLOBAL_STATS, RunningStats

FIELDS = ("count", "mean", "m2", "ewma", "ewma_w")

MERGE_LUA = """
-- KEYS[1]: a journal watermark key; ARGV[1]: the record's offset, or -1 for a plain merge
-- (KEYS[1] is then unused; it is passed so that every key shares the prefix's hash slot).
-- KEYS[i+1]: a stats hash; ARGV[2]: for each stats key in turn, six numbers separated by
-- spaces: count, mean, m2, ewma, ewma_w of the batch and the key's time to live in ms (0:
-- none). One argument, not six per key: the client encodes one string instead of hundreds.
-- Chan et al.'s parallel merge, mirrored by stream.thresholds.policy.RunningStats.merge.
if tonumber(ARGV[1]) >= 0 then
  local done = tonumber(redis.call('GET', KEYS[1]) or '-1')
  if done >= tonumber(ARGV[1]) then return -1 end
  redis.call('SET', KEYS[1], ARGV[1])
end
local v = {}
for token in string.gmatch(ARGV[2] or '', '%S+') do v[#v + 1] = tonumber(token) end
for i = 2, #KEYS do
  local key = KEYS[i]
  local b = 6 * (i - 2)
  local nb = v[b + 1]
  if nb > 0 then
    local mb, m2b = v[b + 2], v[b + 3]
    local eb, wb = v[b + 4], v[b + 5]
    local cur = redis.call('HMGET', key, 'count', 'mean', 'm2', 'ewma', 'ewma_w')
    local na = tonumber(cur[1]) or 0
    if na > 0 then
      local ma, m2a = tonumber(cur[2]), tonumber(cur[3])
      local ea, wa = tonumber(cur[4]), tonumber(cur[5])
      local n = na + nb
      local delta = mb - ma
      local kept = (1 - wb) * wa
      local w = kept + wb
      mb = ma + delta * nb / n
      m2b = m2a + m2b + delta * delta * na * nb / n
      eb = (kept * ea + wb * eb) / w
      wb = w
      nb = n
    end
    redis.call('HSET', key, 'count', nb, 'mean', mb, 'm2', m2b, 'ewma', eb, 'ewma_w', wb)
    local ttl = v[b + 6]
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
end
return #KEYS - 1
"""

FETCH_LUA = """
-- KEYS: stats hashes; the count, mean, m2, ewma and ewma_w of each (nil where absent).
-- One command for a whole micro-batch: a pipeline of one HMGET per patient costs the client
-- more than the round trip.
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], 'count', 'mean', 'm2', 'ewma', 'ewma_w')
end
return out
"""


async def hmget_many(client: aioredis.Redis, keys: Mapping[str, str], fields: Iterable[str]
                     ) -> dict[str, list[bytes | None]]:
    """``HMGET`` of ``fields`` for every key (one round trip: a non-transactional pipeline).

    ``keys`` maps a name (a patient) to its key; the result maps the names to their rows.
    """
    if not keys:
        return {}
    wanted = list(fields)
    async with client.pipeline(transaction=False) as pipe:
        for key in keys.values():
            pipe.hmget(key, wanted)
        rows = await pipe.execute()
    return dict(zip(keys, rows, strict=True))


def redis_client(
    settings: Settings, socket_timeout: float = 5.0, **kwargs: Any
) -> aioredis.Redis:
    """An asyncio Redis client for ``settings.redis_url`` (``rediss://`` means TLS).

    Args:
        settings: uses ``redis_url`` and ``redis_password`` (a password in the URL wins).
        socket_timeout: seconds for connecting and for each command.
        **kwargs: further ``redis.asyncio.Redis`` keywords (e.g. ``ssl_ca_certs``).
    """
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        **kwargs,
    }
    if password is not None:
        options["password"] = password
    return aioredis.Redis.from_url(settings.redis_url, **options)


class RedisStatsStore:
    """Per-patient and global :class:`RunningStats` in Redis hashes under ``prefix``.

    The worker calls :meth:`fetch` before judging a micro-batch and :meth:`merge` after,
    once each per batch. Both raise ``redis.RedisError`` (or ``OSError``) on failure.

    Args:
        client: the asyncio Redis client.
        prefix: prefix of every key.
        ttl_s: a patient's statistics expire this long after their last merge; 0: never.
    """

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: float = 0.0) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = max(0, round(ttl_s * 1000))
        self._merge = client.register_script(MERGE_LUA)
        self._fetch = client.register_script(FETCH_LUA)

    def key(self, patient: str) -> str:
        """The Redis key of ``patient``, or of the global stats for :data:`GLOBAL_STATS`."""
        if patient == GLOBAL_STATS:
            return f"{self._prefix}:stats:global"
        return f"{self._prefix}:stats:p:{patient}"

    async def fetch(self, patients: Iterable[str]) -> dict[str, RunningStats]:
        """Current statistics of ``patients`` (and of :data:`GLOBAL_STATS` if listed).

        One command (EVALSHA of :data:`FETCH_LUA`; a read, not a transaction: a slightly
        stale read only delays a threshold by one batch). Patients Redis does not know are
        left out of the result; the policy treats them as empty.
        """
        names = list(dict.fromkeys(patients))
        if not names:
            return {}
        rows = await self._fetch(keys=[self.key(p) for p in names])
        return _decode_rows(names, rows)

    async def merge(self, updates: Mapping[str, RunningStats]) -> None:
        """Add one micro-batch's statistics atomically (one EVALSHA for all keys).

        Args:
            updates: ``{patient or GLOBAL_STATS: stats of the batch's eligible beats}``,
                as :meth:`stream.thresholds.policy.ThresholdPolicy.batch_updates` returns.
        """
        await self._run_merge(updates, f"{self._prefix}:journal:none", -1)

    async def merge_journal(self, updates: Mapping[str, RunningStats], topic: str,
                            partition: int, offset: int) -> bool:
        """Merge one statistics-journal record unless it was merged before.

        Returns:
            True when merged now, False when the record's offset was merged already.
        """
        mark = f"{self._prefix}:journal:{topic}:{partition}"
        return await self._run_merge(updates, mark, offset) != -1

    async def _run_merge(self, updates: Mapping[str, RunningStats], mark: str,
                         offset: int) -> int:
        items = [(p, s) for p, s in updates.items() if s.count > 0]
        if not items and offset < 0:
            return 0
        keys = [mark] + [self.key(patient) for patient, _ in items]
        numbers = " ".join(
            f"{s.count} {s.mean!r} {s.m2!r} {s.ewma!r} {s.ewma_weight!r} "
            f"{0 if patient == GLOBAL_STATS else self._ttl_ms}" for patient, s in items)
        return int(await self._merge(keys=keys, args=[offset, numbers]))

    async def prepare(self) -> None:
        """Connect and load both scripts, so the first batch pays neither (start-up)."""
        await self._client.script_load(MERGE_LUA)
        await self._client.script_load(FETCH_LUA)

    async def ping(self) -> bool:
        """True when Redis answers PING; never raises."""
        try:
            return bool(await self._client.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False

    async def delete(self, patients: Iterable[str]) -> int:
        """Forget the statistics of ``patients``; returns how many keys existed."""
        keys = [self.key(patient) for patient in patients]
        return int(await self._client.delete(*keys)) if keys else 0


def _decode_rows(names: list[str], rows: list[list[bytes | None]]) -> dict[str, RunningStats]:
    """The statistics of the rows Redis holds (those with a count)."""
    out = {}
    for name, (count, mean, m2, ewma, weight) in zip(names, rows, strict=True):
        if count is not None:
            out[name] = RunningStats(int(float(count)), float(mean or 0), float(m2 or 0),
                                     float(ewma or 0), float(weight or 0))
    return out
