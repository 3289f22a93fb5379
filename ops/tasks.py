"""Celery entry points for operations (thin)."""

from __future__ import annotations

from celery import shared_task

from notifications.owner import owner_alerts_enabled
from ops.watch import watch_for_owner as watch


@shared_task(name="ops.watch_for_owner")
def watch_for_owner() -> None:
    """Alerts for the outbox, the polling bot and the Star balance; nothing without OWNER_CHAT_ID."""
    if owner_alerts_enabled():
        watch()
