"""The dashboard's figures, in groups: each group one aggregate query over the period
and the one before it, run the first time something reads it (cached for the page)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Generic, TypeVar

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from payments.dashboard.period import Period
from payments.models import Payment, StarSubscription, SubscriberSnapshot, TrialClaim
from payments.selectors import PAID_METHODS, paid_payments
from payments.subscribers import SubscriberCount, active_at, subscribers_now
from subscriptions.models import Subscription, Tariff
from subscriptions.selectors import trial_days

logger = logging.getLogger(__name__)

EXPIRING_SOON_DAYS = 7
# Today's subscribers come from the periodic count when it is at most this old.
FRESH_COUNT = timedelta(minutes=15)

T = TypeVar("T")


@dataclass(frozen=True)
class Pair(Generic[T]):
    current: T
    previous: T


@dataclass(frozen=True)
class Money:
    stars_received: int  # Stars paid through Telegram (subscriptions and top-ups)
    from_balance: int  # subscriptions paid from the balance (Stars received earlier)


@dataclass(frozen=True)
class Refunds:
    count: int
    stars: int  # returned through Telegram
    to_balance: int  # returned to buyers' balances


@dataclass(frozen=True)
class Buyers:
    paying: int
    new: int
    renewed: int  # paid for a subscription, having paid for one before the period

    @property
    def returning(self) -> int:
        return self.paying - self.new


@dataclass(frozen=True)
class Funnel:
    invoices: int
    paid: int

    @property
    def conversion_percent(self) -> float | None:
        return round(100 * self.paid / self.invoices, 1) if self.invoices else None


@dataclass(frozen=True)
class AutoRenewal:
    renewals: int  # Star subscription periods Telegram charged by itself
    cancellations: int  # Star subscriptions canceled in the period (and not resumed since)


@dataclass(frozen=True)
class Trials:
    started: int
    converted: int  # of those, buyers who paid for a subscription after their trial

    @property
    def conversion_percent(self) -> float | None:
        return round(100 * self.converted / self.started, 1) if self.started else None


def _split(rows: dict, key: str) -> Pair:
    return Pair(current=rows[f"{key}_cur"], previous=rows[f"{key}_prev"])


class Facts:
    """The figures of one page: `period` and the one before it, looked at `now`."""

    def __init__(self, *, period: Period, now: datetime | None = None):
        self.period = period
        self.previous_period = period.previous()
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)

    # Windows: [previous start, current end); "cur" rows are those on or after the current start.
    @property
    def _since(self) -> datetime:
        return self.previous_period.start

    @property
    def _split_at(self) -> datetime:
        return self.period.start

    @property
    def _until(self) -> datetime:
        return min(self.period.end, self.now)

    def _both(self, field_name: str) -> tuple[Q, Q]:
        return Q(**{f"{field_name}__gte": self._split_at}), Q(**{f"{field_name}__lt": self._split_at})

    @cached_property
    def _paid_window(self) -> dict:
        """Money and buyers of both periods from one scan of the paid payments' window (the
        covering index): Stars received, balance purchases, paying buyers; new ones (their
        first paid payment is in the period) and renewing ones (they paid for a subscription
        in it, but their first paid subscription is older)."""
        cur, prev = self._both("paid_at")
        stars, balance = Q(method=Payment.Method.STARS), Q(method=Payment.Method.BALANCE)
        subscription = Q(kind=Payment.Kind.SUBSCRIPTION)
        first, first_subscription = Q(first_paid=True), Q(first_paid_subscription=True)
        return (
            paid_payments()
            .filter(paid_at__gte=self._since, paid_at__lt=self._until)
            .aggregate(
                stars_cur=Sum("amount", filter=cur & stars, default=0),
                stars_prev=Sum("amount", filter=prev & stars, default=0),
                balance_cur=Sum("amount", filter=cur & balance, default=0),
                balance_prev=Sum("amount", filter=prev & balance, default=0),
                paying_cur=Count("user_id", distinct=True, filter=cur),
                paying_prev=Count("user_id", distinct=True, filter=prev),
                new_cur=Count("paid_at", filter=cur & first),
                new_prev=Count("paid_at", filter=prev & first),
                subscribers_cur=Count("user_id", distinct=True, filter=cur & subscription),
                subscribers_prev=Count("user_id", distinct=True, filter=prev & subscription),
                first_subscription_cur=Count("paid_at", filter=cur & first_subscription),
                first_subscription_prev=Count("paid_at", filter=prev & first_subscription),
            )
        )

    @cached_property
    def money(self) -> Pair[Money]:
        rows = self._paid_window
        return Pair(
            current=Money(stars_received=rows["stars_cur"], from_balance=rows["balance_cur"]),
            previous=Money(stars_received=rows["stars_prev"], from_balance=rows["balance_prev"]),
        )

    @cached_property
    def refunds(self) -> Pair[Refunds]:
        cur, prev = self._both("refunded_at")
        stars, balance = Q(method=Payment.Method.STARS), Q(method=Payment.Method.BALANCE)
        rows = Payment.objects.filter(
            refunded_at__gte=self._since, refunded_at__lt=self._until, is_mock=False, method__in=PAID_METHODS
        ).aggregate(
            count_cur=Count("refunded_at", filter=cur),
            count_prev=Count("refunded_at", filter=prev),
            stars_cur=Sum("amount", filter=cur & stars, default=0),
            stars_prev=Sum("amount", filter=prev & stars, default=0),
            balance_cur=Sum("amount", filter=cur & balance, default=0),
            balance_prev=Sum("amount", filter=prev & balance, default=0),
        )
        return Pair(
            current=Refunds(count=rows["count_cur"], stars=rows["stars_cur"], to_balance=rows["balance_cur"]),
            previous=Refunds(count=rows["count_prev"], stars=rows["stars_prev"], to_balance=rows["balance_prev"]),
        )

    @cached_property
    def net_revenue(self) -> Pair[int]:
        return Pair(
            current=self.money.current.stars_received - self.refunds.current.stars,
            previous=self.money.previous.stars_received - self.refunds.previous.stars,
        )

    @cached_property
    def buyers(self) -> Pair[Buyers]:
        rows = self._paid_window
        return Pair(
            current=Buyers(
                paying=rows["paying_cur"],
                new=rows["new_cur"],
                renewed=rows["subscribers_cur"] - rows["first_subscription_cur"],
            ),
            previous=Buyers(
                paying=rows["paying_prev"],
                new=rows["new_prev"],
                renewed=rows["subscribers_prev"] - rows["first_subscription_prev"],
            ),
        )

    @cached_property
    def sales_by_day(self) -> list[dict]:
        """The period's paid payments per day, tariff, kind and way of paying (count, Stars):
        the revenue chart and the sales table are both read from these rows."""
        return list(
            paid_payments()
            .filter(paid_at__gte=self._split_at, paid_at__lt=self._until)
            .annotate(day=TruncDate("paid_at"))
            .order_by()
            .values("day", "tariff_id", "tariff__title", "tariff__title_ru", "kind", "method")
            .annotate(count=Count("paid_at"), stars=Sum("amount"))
        )

    @cached_property
    def funnel(self) -> Pair[Funnel]:
        cur, prev = self._both("created_at")
        paid = Q(paid_at__isnull=False)
        rows = Payment.objects.filter(
            created_at__gte=self._since, created_at__lt=self._until, method=Payment.Method.STARS, is_mock=False
        ).aggregate(
            invoices_cur=Count("created_at", filter=cur),
            invoices_prev=Count("created_at", filter=prev),
            paid_cur=Count("created_at", filter=cur & paid),
            paid_prev=Count("created_at", filter=prev & paid),
        )
        return Pair(
            current=Funnel(invoices=rows["invoices_cur"], paid=rows["paid_cur"]),
            previous=Funnel(invoices=rows["invoices_prev"], paid=rows["paid_prev"]),
        )

    @cached_property
    def trials(self) -> Pair[Trials]:
        cur, prev = self._both("created_at")
        paid_later = paid_payments().filter(
            user_id=OuterRef("user_id"), kind=Payment.Kind.SUBSCRIPTION, paid_at__gt=OuterRef("created_at")
        )
        rows = (
            TrialClaim.objects.filter(created_at__gte=self._since, created_at__lt=self._until)
            .annotate(converted=Exists(paid_later))
            .aggregate(
                started_cur=Count("created_at", filter=cur),
                started_prev=Count("created_at", filter=prev),
                converted_cur=Count("created_at", filter=cur & Q(converted=True)),
                converted_prev=Count("created_at", filter=prev & Q(converted=True)),
            )
        )
        return Pair(
            current=Trials(started=rows["started_cur"], converted=rows["converted_cur"]),
            previous=Trials(started=rows["started_prev"], converted=rows["converted_prev"]),
        )

    @cached_property
    def auto_renewal(self) -> Pair[AutoRenewal]:
        """Telegram Star subscriptions: renewals charged and cancellations, in both periods."""
        cur, prev = self._both("paid_at")
        renewals = Payment.objects.filter(
            purchase_type=Payment.RENEWAL, paid_at__gte=self._since, paid_at__lt=self._until, is_mock=False
        ).aggregate(renewals_cur=Count("paid_at", filter=cur), renewals_prev=Count("paid_at", filter=prev))
        cur, prev = self._both("canceled_at")
        canceled = StarSubscription.objects.filter(canceled_at__gte=self._since, canceled_at__lt=self._until).aggregate(
            canceled_cur=Count("canceled_at", filter=cur), canceled_prev=Count("canceled_at", filter=prev)
        )
        return Pair(
            current=AutoRenewal(renewals=renewals["renewals_cur"], cancellations=canceled["canceled_cur"]),
            previous=AutoRenewal(renewals=renewals["renewals_prev"], cancellations=canceled["canceled_prev"]),
        )

    @cached_property
    def auto_renewing_now(self) -> int:
        """Star subscriptions Telegram renews by itself, now."""
        return StarSubscription.objects.filter(status=StarSubscription.Status.ACTIVE).count()

    @cached_property
    def auto_renewal_offered(self) -> bool:
        """A renewing tariff is on sale, or Star subscriptions exist."""
        return Tariff.objects.filter(renews_monthly=True, is_active=True).exists() or StarSubscription.objects.exists()

    @cached_property
    def trial_offered(self) -> bool:
        """The trial exists: switched on now, or taken in one of the periods."""
        return trial_days() > 0 or bool(self.trials.current.started or self.trials.previous.started)

    @cached_property
    def snapshots(self) -> dict[date, SubscriberSnapshot]:
        """Daily counts from the day before the previous period to the end of this one."""
        first = self.previous_period.first - timedelta(days=1)
        rows = SubscriberSnapshot.objects.filter(day__gte=first, day__lte=self.period.last)
        return {row.day: row for row in rows}

    @cached_property
    def subscribers_live(self) -> SubscriberCount:
        """Now: today's count when the periodic task made it recently, else counted now."""
        today = self.snapshots.get(self.today)
        if today is not None and today.recorded_at >= self.now - FRESH_COUNT:
            return SubscriberCount(active=today.active, paid_active=today.paid_active, mrr=today.mrr)
        return subscribers_now(now=self.now)

    def subscribers_on(self, day: date) -> SubscriberCount | None:
        """At the end of that day: counted live for today, from the daily count before
        (None when no count was kept that day)."""
        if day >= self.today:
            return self.subscribers_live
        snapshot = self.snapshots.get(day)
        if snapshot is None:
            return None
        return SubscriberCount(active=snapshot.active, paid_active=snapshot.paid_active, mrr=snapshot.mrr)

    @cached_property
    def subscribers_at_end(self) -> Pair[SubscriberCount | None]:
        return Pair(
            current=self.subscribers_on(self.period.last), previous=self.subscribers_on(self.previous_period.last)
        )

    @cached_property
    def subscribers_at_start(self) -> Pair[SubscriberCount | None]:
        one = timedelta(days=1)
        return Pair(
            current=self.subscribers_on(self.period.first - one),
            previous=self.subscribers_on(self.previous_period.first - one),
        )

    @cached_property
    def lapsed(self) -> Pair[int]:
        """Subscribers who had paid for a subscription and whose subscription ran out in the
        period, not renewed since (a semi-join with the buyers' first paid subscriptions)."""
        cur, prev = self._both("expires_at")
        paid_for_one = Payment.objects.filter(first_paid_subscription=True).values("user_id")
        rows = (
            Subscription.objects.filter(expires_at__gte=self._since, expires_at__lte=self._until)
            .exclude(status=Subscription.Status.DISABLED)
            .filter(user_id__in=paid_for_one)
            .aggregate(lapsed_cur=Count("expires_at", filter=cur), lapsed_prev=Count("expires_at", filter=prev))
        )
        return _split(rows, "lapsed")

    @cached_property
    def expiring_soon(self) -> int:
        """Active subscriptions that run out in the next days (from now, whatever the period)."""
        return (
            Subscription.objects.filter(active_at(self.now))
            .filter(expires_at__lte=self.now + timedelta(days=EXPIRING_SOON_DAYS))
            .count()
        )
