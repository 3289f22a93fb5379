"""The one exponential backoff every retry in the shop uses (outbox rows,
stored Telegram updates, the panel client's in-call retries, the bot's fetch loop)."""

from __future__ import annotations

from datetime import timedelta


def backoff_seconds(*, attempt: int, base: float, cap: float) -> float:
    """base, 2·base, 4·base ... for attempts 1, 2, 3 ..., never more than cap."""
    return min(base * (2 ** max(attempt - 1, 0)), cap)


def backoff_delay(*, attempt: int, base: float, cap: float, at_least: float = 0.0) -> timedelta:
    """backoff_seconds as a timedelta, and never shorter than `at_least` (a 429's retry_after)."""
    return timedelta(seconds=max(backoff_seconds(attempt=attempt, base=base, cap=cap), at_least))
