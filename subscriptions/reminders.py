"""Expiry reminders: 3 days and 1 day before expiry, and once expired.

Each reminder is claimed by inserting its ExpiryReminder row (unique per user,
kind and subscription period) in a short transaction; only the run that
inserted it sends the message, outside the transaction, then marks it sent.
A send that failed is retried by later runs (claimed by a conditional UPDATE),
a few times at most. Users who blocked the bot (`User.bot_blocked_at`) get no
reminder, and a 403 from Telegram marks the user so, without retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.telegram import TelegramBlocked, telegram_configured
from notifications import messages
from notifications.delivery import notify
from subscriptions.models import ExpiryReminder, Subscription
from users.services import users_mark_bot_blocked

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 3


@dataclass
class ReminderRunResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def reminder_kind_for(*, expires_at: datetime, now: datetime) -> str | None:
    """Which reminder is due for this expiry now (only the nearest one: a late first run sends one, not three)."""
    left = expires_at - now
    if left <= timedelta(0):
        lookback = timedelta(days=settings.EXPIRY_REMINDER_EXPIRED_LOOKBACK_DAYS)
        return ExpiryReminder.Kind.EXPIRED if -left <= lookback else None
    if left <= timedelta(days=1):
        return ExpiryReminder.Kind.DAYS_1
    if left <= timedelta(days=3):
        return ExpiryReminder.Kind.DAYS_3
    return None


def send_expiry_reminders(*, now: datetime | None = None) -> ReminderRunResult:
    """Send every due reminder once. Safe to run often and concurrently."""
    result = ReminderRunResult()
    if not telegram_configured():
        logger.info("Telegram is not configured: no expiry reminders sent")
        return result
    # Sends that failed in an earlier run first (a failure is not retried in the same run).
    for reminder in _claim_failed():
        _deliver(reminder, subscription=reminder.subscription, result=result)
    now = now or timezone.now()
    lookback = timedelta(days=settings.EXPIRY_REMINDER_EXPIRED_LOOKBACK_DAYS)
    candidates = (
        Subscription.objects.select_related("user")
        .filter(
            expires_at__gt=now - lookback,
            expires_at__lte=now + timedelta(days=3),
            user__telegram_id__isnull=False,
            user__bot_blocked_at__isnull=True,
        )
        .exclude(status__in=[Subscription.Status.DISABLED, Subscription.Status.NONE])
    )
    for subscription in candidates.iterator():
        kind = reminder_kind_for(expires_at=subscription.expires_at, now=now)
        if kind is None:
            continue
        reminder = _claim(subscription, kind=kind)
        if reminder is None:
            result.skipped += 1
            continue
        _deliver(reminder, subscription=subscription, result=result)
    return result


def _claim(subscription: Subscription, *, kind: str) -> ExpiryReminder | None:
    try:
        with transaction.atomic():
            return ExpiryReminder.objects.create(
                user_id=subscription.user_id,
                subscription=subscription,
                kind=kind,
                period_expires_at=subscription.expires_at,
            )
    except IntegrityError:
        return None  # this reminder was already claimed for this period


def _claim_failed() -> list[ExpiryReminder]:
    claimed = []
    # Only for the current period: after a renewal the old reminder is moot.
    retryable = ExpiryReminder.objects.filter(
        status=ExpiryReminder.Status.FAILED,
        attempts__lt=MAX_SEND_ATTEMPTS,
        subscription__expires_at=F("period_expires_at"),
        user__bot_blocked_at__isnull=True,
    )
    for reminder in retryable.select_related("subscription__user"):
        taken = ExpiryReminder.objects.filter(
            pk=reminder.pk, status=ExpiryReminder.Status.FAILED, attempts=reminder.attempts
        ).update(status=ExpiryReminder.Status.SENDING, attempts=reminder.attempts + 1)
        if taken:
            claimed.append(reminder)
    return claimed


def _deliver(reminder: ExpiryReminder, *, subscription: Subscription, result: ReminderRunResult) -> None:
    user = subscription.user
    notice = messages.expiry_reminder(
        kind=reminder.kind,
        language=user.language,
        expires_at=reminder.period_expires_at,
        renews=subscription.renews_automatically,
    )
    try:
        notify(chat_id=user.telegram_id, notice=notice)
    except TelegramBlocked as exc:
        # Blocked or deleted: no retry would reach them; the mark keeps later reminders away too.
        users_mark_bot_blocked(user_ids=[user.pk])
        ExpiryReminder.objects.filter(pk=reminder.pk).update(
            status=ExpiryReminder.Status.FAILED, attempts=MAX_SEND_ATTEMPTS, last_error=f"blocked: {exc}"[:2000]
        )
        result.failed += 1
        return
    except Exception as exc:  # noqa: BLE001 - recorded, retried by a later run
        logger.warning("expiry reminder %s to %s failed: %s", reminder.pk, user.telegram_id, exc)
        ExpiryReminder.objects.filter(pk=reminder.pk).update(
            status=ExpiryReminder.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        result.failed += 1
        return
    ExpiryReminder.objects.filter(pk=reminder.pk).update(status=ExpiryReminder.Status.SENT, sent_at=timezone.now())
    result.sent += 1
