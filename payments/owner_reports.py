"""The owner's figures outside the admin: the daily summary for the owner's chat, and the reads
behind the bot's owner commands (/stats, /find). Every figure comes from the dashboard's functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from notifications.formatting import shop_time_zone
from notifications.models import AlertKind, OwnerAlert
from notifications.owner import owner_alert, owner_alerts_enabled
from payments.dashboard import Facts, Kpi, Period, attention_counts, day_figures, kpi_cards
from payments.models import Payment
from subscriptions.selectors import SubscriptionView, subscription_view
from users.models import User
from users.selectors import user_ids_for_search

SUMMARY_EVENT = "daily"
PAYMENTS_SHOWN = 5


def summary_key(local_day: date) -> str:
    return f"summary:{local_day.isoformat()}"


def owner_daily_summary_record(*, now: datetime | None = None) -> bool:
    """Once a day, from OWNER_SUMMARY_HOUR in the shop's time zone: yesterday's figures (the
    last whole day as the dashboard counts days) next to the same weekday a week before. The
    alert's unique key (the shop's date) keeps it to one, whatever the workers and restarts.
    True when it was recorded now."""
    if not owner_alerts_enabled() or settings.OWNER_SUMMARY_HOUR is None:
        return False
    now = now or timezone.now()
    local = timezone.localtime(now, shop_time_zone())
    if local.hour < settings.OWNER_SUMMARY_HOUR:
        return False
    key = summary_key(local.date())
    if OwnerAlert.objects.filter(key=key).exists():
        return False
    day = timezone.localdate(now) - timedelta(days=1)
    week_before = day - timedelta(days=7)
    details = {
        "day": day.isoformat(),
        "week_before": week_before.isoformat(),
        "figures": day_figures(day, now=now).as_dict(),
        "previous": day_figures(week_before, now=now).as_dict(),
        "open_reviews": attention_counts()["open_reviews"],
        "path": reverse("admin:payments_payment_dashboard") + f"?from={day.isoformat()}&to={day.isoformat()}",
    }
    return owner_alert(kind=AlertKind.SUMMARY, event=SUMMARY_EVENT, details=details, key=key)


# --- /stats ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerStats:
    today: list[Kpi]  # the dashboard's cards for today (so far), against yesterday
    week: list[Kpi]  # for the last 7 days, against the 7 before
    open_reviews: int


def owner_stats(*, now: datetime | None = None) -> OwnerStats:
    now = now or timezone.now()
    today = timezone.localdate(now)
    return OwnerStats(
        today=kpi_cards(Facts(period=Period(first=today, last=today), now=now)),
        week=kpi_cards(Facts(period=Period(first=today - timedelta(days=6), last=today), now=now)),
        open_reviews=attention_counts()["open_reviews"],
    )


# --- /find ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuyerCard:
    user: User
    subscription: SubscriptionView
    payments: list[Payment]  # newest first
    payment_count: int
    admin_path: str


def buyer_find(term: str) -> BuyerCard | None:
    """A buyer by Telegram id or @username (exact, like the admin's search)."""
    ids = user_ids_for_search(term) if term.strip() else []
    user = User.objects.filter(pk__in=ids).order_by("is_staff", "pk").first()
    if user is None:
        return None
    payments = Payment.objects.filter(user=user).select_related("tariff").order_by("-created_at", "-pk")
    return BuyerCard(
        user=user,
        subscription=subscription_view(user=user),
        payments=list(payments[:PAYMENTS_SHOWN]),
        payment_count=payments.count(),
        admin_path=reverse("admin:users_user_change", args=[user.pk]),
    )
