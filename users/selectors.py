"""Reads about users shared by several admin pages."""

from __future__ import annotations

from django.db.models import Q

from core.admin import TELEGRAM_ID
from users.models import User


def user_ids_for_search(term: str) -> list[int]:
    """Users with this exact Telegram id, @username or login (unique / indexed columns)."""
    term = term.strip()
    query = Q(telegram_username=term.lstrip("@")) | Q(username=term)
    if TELEGRAM_ID.match(term):
        query |= Q(telegram_id=int(term))
    return list(User.objects.filter(query).values_list("pk", flat=True)[:50])
