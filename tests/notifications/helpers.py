from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from notifications.owner import owner_alerts_deliver
from tests.telegram_bot.support import message_text


def owner_texts(fake, chat_id: int) -> list[str]:
    """What the owner's chat reads (tags gone), one entry per message."""
    return [message_text(message) for message in fake.sent_messages(chat_id)]


def after_the_window(*, seconds: float = 1.0) -> int:
    """The worker's run once the grouping window of every kind has passed."""
    return owner_alerts_deliver(now=timezone.now() + timedelta(seconds=settings.OWNER_ALERT_GROUP_SECONDS + seconds))
