"""Who a broadcast reaches, and how far its sending has got.

A recipient is a buyer the bot can write to: a Telegram id, an active account, not staff (staff
see a broadcast through its test message), and not marked as having blocked the bot. On top of
that, a segment:

- all buyers: every such user (everyone who has started the bot);
- active subscribers: a subscription that has not ended (and is not disabled);
- subscription ends within N days: active, and ending within the next N days;
- subscription expired: a subscription that has ended (not disabled);
- never paid: no paid payment (succeeded or later refunded, more than 0 Stars, from Telegram or the
  balance): free trials and 100 % promos do not count as paying;

and optionally one language (the bot's language for the user: the one they chose, else Telegram's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from broadcasts.models import Broadcast, Delivery
from payments.models import Payment
from subscriptions.models import Subscription
from users.models import User
from users.selectors import language_q

PAID_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)


def reachable_users() -> QuerySet[User]:
    return User.objects.filter(telegram_id__isnull=False, is_active=True, is_staff=False, bot_blocked_at__isnull=True)


def segment_recipients(
    *, segment: str, expiring_days: int | None = None, language: str = "", now: datetime | None = None
) -> QuerySet[User]:
    """The users a broadcast to this segment reaches now."""
    now = now or timezone.now()
    users = reachable_users()
    running = Subscription.objects.filter(user=OuterRef("pk")).exclude(status=Subscription.Status.DISABLED)
    if segment == Broadcast.Segment.ACTIVE:
        users = users.filter(Exists(running.filter(expires_at__gt=now)))
    elif segment == Broadcast.Segment.EXPIRING:
        if not expiring_days or expiring_days < 1:
            raise ValueError("the expiring segment needs a number of days (1 or more)")
        ending = running.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=expiring_days))
        users = users.filter(Exists(ending))
    elif segment == Broadcast.Segment.EXPIRED:
        users = users.filter(Exists(running.filter(expires_at__lte=now)))
    elif segment == Broadcast.Segment.NEVER_PAID:
        paid = Payment.objects.filter(user=OuterRef("pk"), status__in=PAID_STATUSES, amount__gt=0)
        users = users.exclude(Exists(paid))
    elif segment != Broadcast.Segment.ALL:
        raise ValueError(f"unknown segment {segment!r}")
    if language:
        users = users.filter(language_q(language))
    return users


def broadcast_recipients(broadcast: Broadcast, *, now: datetime | None = None) -> QuerySet[User]:
    return segment_recipients(
        segment=broadcast.segment, expiring_days=broadcast.expiring_days, language=broadcast.language, now=now
    )


def recipient_count(broadcast: Broadcast) -> int:
    """How many users the broadcast would reach if it started now."""
    return broadcast_recipients(broadcast).count()


@dataclass(frozen=True)
class Progress:
    status: str
    total: int  # recipients fixed at the start (0 until the worker has fixed them)
    prepared: bool
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0

    @property
    def processed(self) -> int:
        """Recipients whose message is settled: sent, failed or skipped as blocked."""
        return self.sent + self.failed + self.blocked

    @property
    def label(self) -> str:
        """e.g. "3 / 5": settled out of all recipients."""
        return f"{self.processed} / {self.total}"

    @property
    def finished(self) -> bool:
        return self.status in (Broadcast.Status.DONE, Broadcast.Status.CANCELLED) and not self.sending

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "total": self.total,
            "prepared": self.prepared,
            "pending": self.pending,
            "sending": self.sending,
            "sent": self.sent,
            "failed": self.failed,
            "blocked": self.blocked,
            "cancelled": self.cancelled,
            "processed": self.processed,
            "label": self.label,
            "finished": self.finished,
        }


def broadcast_progress(broadcast: Broadcast) -> Progress:
    """The broadcast's deliveries counted by state (one grouped query over its index)."""
    counts = dict(
        Delivery.objects.filter(broadcast=broadcast)
        .order_by()
        .values_list("status")
        .annotate(count=Count("*"))
        .values_list("status", "count")
    )
    return Progress(
        status=broadcast.status,
        total=broadcast.total,
        prepared=broadcast.prepared_at is not None,
        pending=counts.get(Delivery.Status.PENDING, 0),
        sending=counts.get(Delivery.Status.SENDING, 0),
        sent=counts.get(Delivery.Status.SENT, 0),
        failed=counts.get(Delivery.Status.FAILED, 0),
        blocked=counts.get(Delivery.Status.BLOCKED, 0),
        cancelled=counts.get(Delivery.Status.CANCELLED, 0),
    )
