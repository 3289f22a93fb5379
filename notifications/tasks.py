"""Celery entry points for the owner's alerts (thin)."""

from __future__ import annotations

from celery import shared_task

from notifications.owner import owner_alerts_deliver, owner_alerts_enabled


@shared_task(name="notifications.send_owner_alerts")
def send_owner_alerts() -> int:
    """Group the waiting alerts and send the due messages to OWNER_CHAT_ID; 0 without one."""
    if not owner_alerts_enabled():
        return 0
    return owner_alerts_deliver()
