from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import fetch_first, lock_row
from core.errors import ApplicationError
from users.models import LANGUAGE_CODES, User


class AccountDeactivated(ApplicationError):
    """The buyer was deactivated in the admin (is_active off): no door serves them."""

    code = "account_deactivated"
    status = 403

    def __init__(self):
        super().__init__(_("This account is deactivated. To ask why, write to the shop's support."))


def user_ensure_active(*, user: User) -> None:
    """Refuse a deactivated user (their records stay; only what they can do stops)."""
    if not user.is_active:
        raise AccountDeactivated()


def telegram_username_for(telegram_id: int) -> str:
    """The Django username of a Telegram buyer: deterministic, never clashes with staff names."""
    return f"tg_{telegram_id}"


def user_get_or_create_from_telegram(
    *,
    telegram_id: int,
    username: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    language_code: str | None = None,
) -> User:
    """Find the user with this Telegram id, creating it on first contact and
    refreshing the profile fields Telegram sends with every update."""
    fields = {
        "telegram_username": (username or "")[:64],
        "first_name": (first_name or "")[:150],
        "last_name": (last_name or "")[:150],
        "language_code": (language_code or "")[:16],
    }
    # Every API request and bot update looks its user up (the Telegram id is unique): a prebuilt SELECT.
    user = fetch_first(User, telegram_id=telegram_id)
    if user is None:
        try:
            with transaction.atomic():
                user = User(telegram_id=telegram_id, username=telegram_username_for(telegram_id), **fields)
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            # Two first updates of one user raced; the other one created it.
            user = User.objects.get(telegram_id=telegram_id)
    changed = [name for name, value in fields.items() if value and getattr(user, name) != value]
    if changed:
        for name in changed:
            setattr(user, name, fields[name])
        User.objects.filter(pk=user.pk).update(**{name: fields[name] for name in changed})
    return user


def user_lock(*, user_id: int) -> User:
    """Lock a user row for the rest of the transaction: the first lock of every
    money change (order: user → subscription → payment).

    FOR NO KEY UPDATE, not FOR UPDATE: rows that merely reference the user
    (events, ledger rows, tasks) take KEY SHARE locks from their foreign keys,
    and a plain FOR UPDATE would deadlock against them.
    """
    return User.objects.select_for_update(no_key=True).get(pk=user_id)


def user_lock_row(*, user_id: int) -> None:
    """user_lock for callers that only need the lock, not the user's fields.

    The same FOR NO KEY UPDATE in plain SQL: it runs once per invoice and per
    payment, and the ORM's select_for_update query cost several times the lock."""
    if not lock_row(model=User, pk=user_id, no_key=True):
        raise User.DoesNotExist(f"no user {user_id}")


def user_set_language(*, user: User, language: str) -> User:
    """Remember the language the buyer chose in the bot (ru or en); it wins over
    Telegram's language_code from now on, notifications included."""
    if language not in LANGUAGE_CODES:
        raise ValueError(f"unsupported language {language!r}")
    User.objects.filter(pk=user.pk).update(bot_language=language)
    user.bot_language = language
    return user


def users_mark_bot_blocked(*, user_ids: Iterable[int], at: datetime | None = None) -> int:
    """Telegram refused to deliver to these users (403: they blocked the bot or their account is
    gone). Later broadcasts and reminders skip them until they write to the bot again. Keeps the
    first time it was seen; returns how many users were newly marked."""
    ids = list(user_ids)
    if not ids:
        return 0
    return User.objects.filter(pk__in=ids, bot_blocked_at__isnull=True).update(bot_blocked_at=at or timezone.now())


def user_mark_reachable(*, user: User) -> User:
    """The user wrote to the bot (any update): they no longer block it, so messages reach them again."""
    if user.bot_blocked_at is not None:
        User.objects.filter(pk=user.pk).update(bot_blocked_at=None)
        user.bot_blocked_at = None
    return user
