"""Point this (test) process's Celery app at a broker, and back.

The app reads its configuration once, when first used, so a test that
changes CELERY_BROKER_URL also sets the app's broker_url and drops the
connection pools built for the old one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config import celery_app


def _drop_broker_connections() -> None:
    # Celery caches one connection pool (and a producer pool on it) per app.
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
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
