"""Redis clients for the configured URL and password: a blocking client and a PING probe."""

from __future__ import annotations

import logging
from typing import Any

from stream.settings import Settings

log = logging.getLogger(__name__)


def sync_redis(settings: Settings, timeout: float = 5.0) -> Any:
    """A blocking ``redis.Redis`` client for the configured URL and password."""
    import redis  # local: redis loads only when used (fast --help)

    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis.from_url(settings.redis_url, password=password,
                                socket_timeout=timeout, socket_connect_timeout=timeout)


def redis_ping(settings: Settings, timeout: float = 2.0) -> bool:
    """True when the configured Redis answers PING (with the configured password)."""
    import redis  # local: redis loads only when used (fast --help)

    client = sync_redis(settings, timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError) as exc:
        log.debug("redis probe failed: %r", exc)
        return False
    finally:
        client.close()
