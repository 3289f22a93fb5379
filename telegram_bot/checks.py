"""Checks of the settings the bot sends as they are: each of these texts is one message."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from broadcasts.telegram_html import MESSAGE_MAX, telegram_length
from core.checks import CONFIG_TAG

# The settings whose whole value is the answer to a command (telegram_bot/texts.py).
SINGLE_MESSAGE_TEXTS = {"TERMS_TEXT": "/terms", "PRIVACY_TEXT": "/privacy", "PAYSUPPORT_TEXT": "/paysupport"}


@checks.register(CONFIG_TAG)
def single_message_texts(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Each text fits one Telegram message. It is sent escaped with parse_mode=HTML, so what
    Telegram counts after parsing its entities is the text itself: its length in UTF-16 code
    units (an emoji outside the BMP counts twice), outer whitespace trimmed as Telegram does."""
    errors: list[checks.CheckMessage] = []
    for name, command in SINGLE_MESSAGE_TEXTS.items():
        value = getattr(settings, name, "") or ""
        if not value:
            continue  # the built-in text
        text = value.strip()
        if not text:
            errors.append(
                checks.Error(
                    f"{name} is only whitespace: Telegram refuses an empty message, so {command} would fail.",
                    hint=f"Unset {name} for the built-in text, or write the text.",
                    id="telegram_bot.E002",
                )
            )
        elif (length := telegram_length(text)) > MESSAGE_MAX:
            errors.append(
                checks.Error(
                    f"{name} is {length} characters long; one Telegram message holds at most {MESSAGE_MAX} "
                    f"(counted in UTF-16 code units, as Telegram counts), so {command} would fail.",
                    hint=f"Shorten {name}, e.g. to a summary with a link to the full text.",
                    id="telegram_bot.E001",
                )
            )
    return errors
