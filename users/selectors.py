"""Reads about users shared by several admin pages."""

from __future__ import annotations

from django.db.models import Q

from core.admin import TELEGRAM_ID
from users.models import LANGUAGE_CODES, User, language_of


def user_ids_for_search(term: str) -> list[int]:
    """Users with this exact Telegram id, @username or login (unique / indexed columns)."""
    term = term.strip()
    query = Q(telegram_username=term.lstrip("@")) | Q(username=term)
    if TELEGRAM_ID.match(term):
        query |= Q(telegram_id=int(term))
    return list(User.objects.filter(query).values_list("pk", flat=True)[:50])


def language_for_telegram_id(*, telegram_id: int, language_code: str | None = None) -> str:
    """The buyer's language by Telegram id (one indexed read), for answers given
    before the user row is loaded (pre-checkout, apologies)."""
    row = User.objects.filter(telegram_id=telegram_id).values_list("bot_language", "language_code").first()
    if row is None:
        return language_of(language_code=language_code)
    # The choice made in the bot wins; else what Telegram says now, else what it said before.
    return language_of(bot_language=row[0], language_code=language_code or row[1])


def language_q(language: str) -> Q:
    """The users whose bot language (`User.language`, the rule of `language_of`) is `language`, as a
    filter: the language chosen in the bot, else English when Telegram's language_code says so,
    else Russian."""
    if language not in LANGUAGE_CODES:
        raise ValueError(f"unsupported language {language!r}")
    english = Q(bot_language="en") | (~Q(bot_language__in=LANGUAGE_CODES) & Q(language_code__istartswith="en"))
    return english if language == "en" else ~english
