"""Point this (test) process's Celery app at a broker, and back.

The app reads its configuration once, when first used, so a test that
changes CELERY_BROKER_URL also sets the app's broker_url and drops the
connection pools built for the old one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kombu import pools

from config import celery_app
from tests.runtime.processes import wait_until


def _drop_broker_connections() -> None:
    # kombu keeps its pools per broker URL; the app caches the ones it took.
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str, settings) -> Iterator[str]:
    """Background work goes to the broker at `url` (not inline, not embedded) until the block ends."""
    previous = celery_app.conf.broker_url
    settings.CELERY_BROKER_URL = url
    settings.BACKGROUND_TASKS_INLINE = False
    celery_app.conf.broker_url = url
    _drop_broker_connections()
    try:
        yield url
    finally:
        celery_app.conf.broker_url = previous
        _drop_broker_connections()


SWEEP_TASK = "subscriptions.sweep_outbox"
SWEEP_EVERY = 0.5


def sweep_until(predicate: Callable[[], object], *, timeout: float, message: str | Callable[[], str] = "") -> None:
    """Stand in for Celery beat: send the outbox sweeper to the workers every
    SWEEP_EVERY seconds until `predicate()` holds."""
    last_sent = 0.0

    def swept_enough() -> bool:
        nonlocal last_sent
        if predicate():
            return True
        if time.monotonic() - last_sent >= SWEEP_EVERY:
            celery_app.send_task(SWEEP_TASK)
            last_sent = time.monotonic()
        return False

    wait_until(swept_enough, timeout=timeout, message=message)
