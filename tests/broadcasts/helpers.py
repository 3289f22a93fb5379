"""Buyers and what the fake Bot API received, for broadcast tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import UserFactory
from users.models import User


def subscribers(count: int, *, days: int = 20, **user_fields) -> list[User]:
    """Buyers with a subscription ending in `days` (negative: ended); every third one Russian."""
    users = []
    for n in range(count):
        user = UserFactory(language_code="ru" if n % 3 == 0 else "en", **user_fields)
        SubscriptionFactory(
            user=user,
            expires_at=timezone.now() + timedelta(days=days),
            status="active" if days > 0 else "expired",
        )
        users.append(user)
    return users


def messages_per_chat(fake, users) -> dict[int, int]:
    """How many messages (and photos) each user's chat got."""
    return {user.telegram_id: len(fake.sent_messages(user.telegram_id)) for user in users}
