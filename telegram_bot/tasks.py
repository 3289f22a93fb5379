"""Celery entry points for the bot's background work (thin)."""

from __future__ import annotations

from celery import shared_task

from integrations.telegram import telegram_configured
from telegram_bot.services import updates_purge
from telegram_bot.webhook import background_bot


@shared_task(name="telegram_bot.retry_due_updates")
def retry_due_updates() -> int:
    """Re-run stored updates whose handling failed (or whose worker died), with this process's bot."""
    if not telegram_configured():
        return 0
    return background_bot.retry_due()


@shared_task(name="telegram_bot.purge_handled_updates")
def purge_handled_updates() -> int:
    return updates_purge()
