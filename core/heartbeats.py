"""Heartbeats of long-running processes, read by the readiness probe and the metrics."""

from __future__ import annotations

import time

from django.utils import timezone

from core.models import Heartbeat

BOT_POLLING = "bot polling"


def heartbeat_record(*, name: str) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


def heartbeat_age_seconds(*, name: str) -> float | None:
    """Seconds since the last heartbeat of `name`; None if it never beat."""
    seen_at = Heartbeat.objects.filter(name=name).values_list("seen_at", flat=True).first()
    return None if seen_at is None else max((timezone.now() - seen_at).total_seconds(), 0.0)


class Throttle:
    """True at most once per `seconds` (per instance): a heartbeat per round of a
    busy loop would be a database write per batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True
