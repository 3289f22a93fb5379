"""Per-user and per-API-key request limits, cache-backed.

The shop's fixed-window counter (core.ratelimit) rather than DRF's
SimpleRateThrottle, whose per-key history list is pickled on every request and
grows with the rate. Rates come from settings on every request, so tests and
the environment can change them.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from api.authentication import ApiKeyCredentials
from core.clientip import client_address
from core.ratelimit import parse_rate, window_hit


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
        hit = window_hit(key=f"throttle:{self.scope}:{ident}", limit=limit, seconds=seconds)
        self._wait = hit.retry_in
        return hit.allowed

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
    """Each client address (X-Forwarded-For only from settings.TRUSTED_PROXY_COUNT proxies)."""

    scope = "anon"

    def ident(self, request):
        if request.user and request.user.is_authenticated:
            return None
        return client_address(request)
