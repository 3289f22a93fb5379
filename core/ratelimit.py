"""A fixed-window counter in Django's cache, shared by the API throttles and the
bot's flood limit. With CACHE_URL on Redis it counts across every process.

cache.add + cache.incr is O(1) per hit (DRF's SimpleRateThrottle pickles a
history list that grows with the rate); on Redis (core.cache) the two are one
round trip. A cache that is down never blocks a request: the hit is allowed
and logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/min" → (120 hits, 60 seconds)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


@dataclass(frozen=True)
class WindowHit:
    count: int  # hits in this window, this one included (0 when the cache was unreachable)
    limit: int
    retry_in: float  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit


def _window(key: str, seconds: int) -> tuple[str, int, float, int]:
    """(cache key, window length, now, window number) of the current window."""
    seconds = max(int(seconds), 1)
    now = time.time()
    window = int(now // seconds)
    return f"rate:{key}:{seconds}:{window}", seconds, now, window


def window_peek(*, key: str, limit: int, seconds: int) -> WindowHit:
    """The hits of `key` in the current window, without counting one (0 when the cache is down)."""
    cache_key, seconds, now, window = _window(key, seconds)
    try:
        count = int(cache.get(cache_key) or 0)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not take the shop down
        logger.warning("rate limit cache unavailable (%s); allowing %s", exc, key)
        count = 0
    return WindowHit(count=count, limit=limit, retry_in=(window + 1) * seconds - now)


def window_hit(*, key: str, limit: int, seconds: int) -> WindowHit:
    """Count one hit of `key` in the current window of `seconds`."""
    cache_key, seconds, now, window = _window(key, seconds)
    try:
        count_hit = getattr(cache, "count_hit", None)  # core.cache.RedisCache: one round trip
        if count_hit is not None:
            count = count_hit(cache_key, seconds + 1)
        else:
            cache.add(cache_key, 0, seconds + 1)
            try:
                count = cache.incr(cache_key)
            except ValueError:  # evicted between add and incr
                cache.set(cache_key, 1, seconds + 1)
                count = 1
    except Exception as exc:  # noqa: BLE001 - a cache outage must not take the shop down
        logger.warning("rate limit cache unavailable (%s); allowing %s", exc, key)
        count = 0
    return WindowHit(count=count, limit=limit, retry_in=(window + 1) * seconds - now)
