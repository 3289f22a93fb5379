"""Per-user and per-API-key request limits, cache-backed.

A fixed-window counter (cache.add + cache.incr: O(1) per request) rather than
DRF's SimpleRateThrottle, whose per-key history list is pickled on every request
and grows with the rate (thousands of entries for a busy API key). Rates come
from settings on every request, so tests and the environment can change them.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from api.authentication import ApiKeyCredentials

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/min" → (120 requests, 60 seconds)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


class _WindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)
        ident = self.ident(request) if rate else None
        if ident is None:
            return True
        limit, seconds = parse_rate(rate)
        now = time.time()
        window = int(now // seconds)
        key = f"throttle:{self.scope}:{ident}:{seconds}:{window}"
        cache.add(key, 0, seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, seconds + 1)
            count = 1
        self._wait = (window + 1) * seconds - now
        return count <= limit

    def wait(self) -> float:
        return self._wait


class UserThrottle(_WindowThrottle):
    """Each Telegram user (or staff user), whichever door they came through."""

    scope = "user"

    def ident(self, request):
        return request.user.pk if request.user and request.user.is_authenticated else None


class ApiKeyThrottle(_WindowThrottle):
    """Each API key, across all the users it acts for."""

    scope = "api_key"

    def ident(self, request):
        return request.auth.api_key.pk if isinstance(request.auth, ApiKeyCredentials) else None


class AnonymousThrottle(_WindowThrottle):
    scope = "anon"

    def ident(self, request):
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)
