"""Sending a Notice. Called from background tasks only, never on a serving thread."""

from __future__ import annotations

from integrations.telegram import client
from notifications.messages import Notice


def notify(*, chat_id: int, notice: Notice) -> int:
    """Send it; returns Telegram's message id. Raises the integration's typed
    errors (TelegramBlocked, TelegramRateLimited, TelegramUnavailable ...)."""
    return client().send_message(chat_id=chat_id, text=notice.text, buttons=notice.buttons, parse_mode="HTML")
