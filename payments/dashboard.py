"""Reads for the admin's dashboard: what the shop earned and how its buyers and
subscribers behaved over a chosen period, next to the period of the same length
just before it.

How it is built, so that a card is easy to add:
- `Period` is the chosen range of whole days (UTC), from a preset or two dates.
- `Facts` holds the figures, in groups; each group is one aggregate query over both
  periods at once, run the first time a card asks for it (cached for the page).
  The page therefore costs the same number of queries at a hundred payments and
  at a million, over the covering indexes on Payment.
- `KPI_CARDS` lists the functions that turn facts into `Kpi` cards (title, unit,
  formula, current and previous value). A new card is one more function there,
  and a new fact group if it needs figures nobody reads yet.

Every figure leaves out mock payments (completed without money).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.background import enqueue
from integrations.telegram import TelegramError, client, telegram_configured
from payments.models import LedgerEntry, Payment, PendingRefund, ReconciliationRun, SubscriberSnapshot, TrialClaim
from payments.reviews import OPEN as REVIEW_OPEN
from payments.selectors import PAID_METHODS, PAID_STATUSES, paid_payments
from payments.subscribers import SubscriberCount, active_at, subscribers_now
from subscriptions.models import Subscription
from subscriptions.selectors import ProvisioningAlert, provisioning_alerts, trial_days

logger = logging.getLogger(__name__)

STAR_BALANCE_CACHE_KEY = "admin:dashboard:star_balance"
STAR_BALANCE_CACHE_SECONDS = 60
REFRESH_STAR_BALANCE_TASK = "payments.refresh_star_balance"
TOP_PROMOS = 10
EXPIRING_SOON_DAYS = 7
# Today's subscribers come from the periodic count when it is at most this old.
FRESH_COUNT = timedelta(minutes=15)
MAX_PERIOD_DAYS = 731  # two years: the longest range the page answers quickly

T = TypeVar("T")


# --- The period ------------------------------------------------------------------------------


def _month_start(day: date) -> date:
    return day.replace(day=1)


PRESETS: dict[str, tuple[object, Callable[[date], tuple[date, date]]]] = {
    "7d": (_("Last 7 days"), lambda today: (today - timedelta(days=6), today)),
    "30d": (_("Last 30 days"), lambda today: (today - timedelta(days=29), today)),
    "90d": (_("Last 90 days"), lambda today: (today - timedelta(days=89), today)),
    "this_month": (_("This month"), lambda today: (_month_start(today), today)),
    "last_month": (
        _("Last month"),
        lambda today: (_month_start(_month_start(today) - timedelta(days=1)), _month_start(today) - timedelta(days=1)),
    ),
    "365d": (_("Last 365 days"), lambda today: (today - timedelta(days=364), today)),
}
DEFAULT_PRESET = "30d"
CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """Whole days from `first` to `last`, both included (UTC, like the rest of the admin)."""

    first: date
    last: date
    preset: str = CUSTOM

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    def previous(self) -> Period:
        return Period(first=self.first - timedelta(days=self.days), last=self.first - timedelta(days=1), preset=CUSTOM)

    def day_list(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range(self.days)]


def period_preset(key: str, *, today: date) -> Period:
    first, last = PRESETS[key][1](today)
    return Period(first=first, last=last, preset=key)


def period_from_query(query, *, today: date | None = None) -> tuple[Period, list[str]]:
    """The period a dashboard URL asks for: ?preset=30d, or ?from=YYYY-MM-DD&to=YYYY-MM-DD
    (the older ?days=30 / ?days=90 links are presets too). Anything unusable gives the
    default period and a message saying why, never an error page."""
    today = today or timezone.localdate()
    start_text, end_text = (query.get("from") or "").strip(), (query.get("to") or "").strip()
    if start_text or end_text:
        return _custom_period(start_text, end_text, today=today)
    key = query.get("preset") or (f"{query['days']}d" if query.get("days") else DEFAULT_PRESET)
    if key not in PRESETS:
        return period_preset(DEFAULT_PRESET, today=today), [gettext("Unknown period; showing the last 30 days.")]
    return period_preset(key, today=today), []


def _custom_period(start_text: str, end_text: str, *, today: date) -> tuple[Period, list[str]]:
    fallback = period_preset(DEFAULT_PRESET, today=today)
    try:
        first = date.fromisoformat(start_text) if start_text else None
        last = date.fromisoformat(end_text) if end_text else today
    except ValueError:
        return fallback, [gettext("Dates are written as YYYY-MM-DD; showing the last 30 days.")]
    if first is None:
        return fallback, [gettext("Give the first day of the period; showing the last 30 days.")]
    if first > last:
        return fallback, [gettext("The period starts after it ends; showing the last 30 days.")]
    if first > today:
        return fallback, [gettext("The period is in the future; showing the last 30 days.")]
    notes = []
    if last > today:
        last = today
        notes.append(gettext("The period ends today: later days have no data yet."))
    period = Period(first=first, last=last, preset=CUSTOM)
    if period.days > MAX_PERIOD_DAYS:
        return fallback, [
            gettext("Choose at most %(days)s days; showing the last 30 days.") % {"days": MAX_PERIOD_DAYS}
        ]
    return period, notes


# --- Facts: each group one query over both periods ----------------------------------------------


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


# --- KPI cards -------------------------------------------------------------------------------------

# Units: counts get the right plural in the reader's language; ratios a fixed phrase.
COUNT_UNITS = ("stars", "buyers", "subscribers", "subscriptions", "refunds", "trials", "stars_per_month")
RATIO_UNITS = {
    "percent": "%",
    "stars_per_subscriber": _("Stars per subscriber"),
    "stars_per_buyer": _("Stars per paying buyer"),
}


def _count_unit(unit: str, value: int) -> str:
    plurals = {
        "stars": lambda n: ngettext("Star", "Stars", n),
        "buyers": lambda n: ngettext("buyer", "buyers", n),
        "subscribers": lambda n: ngettext("subscriber", "subscribers", n),
        "subscriptions": lambda n: ngettext("subscription", "subscriptions", n),
        "refunds": lambda n: ngettext("refund", "refunds", n),
        "trials": lambda n: ngettext("trial", "trials", n),
        "stars_per_month": lambda n: ngettext("Star per month", "Stars per month", n),
    }
    return plurals[unit](value)


def unit_label(unit: str, value: int | float | None) -> str:
    if unit in COUNT_UNITS:
        return _count_unit(unit, int(value) if isinstance(value, int) else 5)
    return str(RATIO_UNITS[unit])


@dataclass(frozen=True)
class Kpi:
    key: str
    title: object  # lazy text
    unit: str  # a key of COUNT_UNITS or RATIO_UNITS
    formula: object  # how it is counted, shown under the card
    current: int | float | None  # None: not known (no daily count kept for that day, nothing to divide by)
    previous: int | float | None = None
    compare: bool = True
    higher_is_better: bool = True
    link: str | None = None
    detail: str = ""

    @property
    def unit_label(self) -> str:
        return unit_label(self.unit, self.current)

    @property
    def is_rate(self) -> bool:
        return self.unit == "percent"

    @property
    def change(self) -> int | float | None:
        if not self.compare or self.current is None or self.previous is None:
            return None
        delta = self.current - self.previous
        return round(delta, 1) if isinstance(delta, float) else delta

    @property
    def change_percent(self) -> float | None:
        """Relative change (not for rates, whose change is in percentage points)."""
        if self.change is None or self.is_rate or not self.previous:
            return None
        return round(100 * self.change / self.previous, 1)

    @property
    def current_text(self) -> str:
        return _number(self.current)

    @property
    def previous_text(self) -> str:
        return _number(self.previous)

    @property
    def change_text(self) -> str:
        """The change with its sign, in the reader's number format ("+12", "−2,5")."""
        return _signed(self.change)

    @property
    def change_percent_text(self) -> str:
        return _signed(self.change_percent)

    @property
    def trend(self) -> str:
        """up / down / flat, and whether that is good news: for the card's colour."""
        if not self.change:
            return "flat"
        good = (self.change > 0) == self.higher_is_better
        return f"{'up' if self.change > 0 else 'down'} {'good' if good else 'bad'}"


def _number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return formats.number_format(value, decimal_pos=1 if isinstance(value, float) else None)


def _signed(value: int | float | None) -> str:
    if value is None:
        return ""
    text = _number(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else text


def _ratio(numerator: int | float | None, denominator: int | float | None, *, percent: bool = False) -> float | None:
    if numerator is None or not denominator:
        return None
    return round((100 if percent else 1) * numerator / denominator, 1)


def _active(count: SubscriberCount | None) -> int | None:
    return count.active if count else None


def _paid_active(count: SubscriberCount | None) -> int | None:
    return count.paid_active if count else None


def _mrr(count: SubscriberCount | None) -> int | None:
    return count.mrr if count else None


def card_net_revenue(facts: Facts) -> Kpi:
    money = facts.money.current
    return Kpi(
        key="net_revenue",
        title=_("Net revenue"),
        unit="stars",
        formula=_(
            "Stars paid through Telegram in the period (subscriptions and top-ups) minus Stars refunded "
            "through Telegram in the period. Purchases from the balance spend Stars counted at their top-up."
        ),
        current=facts.net_revenue.current,
        previous=facts.net_revenue.previous,
        detail=gettext("%(received)s received, %(refunded)s refunded; %(balance)s spent from balances")
        % {
            "received": money.stars_received,
            "refunded": facts.refunds.current.stars,
            "balance": money.from_balance,
        },
    )


def card_refunds(facts: Facts) -> Kpi:
    refunds = facts.refunds.current
    return Kpi(
        key="refunds",
        title=_("Refunds"),
        unit="refunds",
        formula=_("Payments refunded in the period: Stars back through Telegram, or back to the balance."),
        current=refunds.count,
        previous=facts.refunds.previous.count,
        higher_is_better=False,
        detail=gettext("%(stars)s Stars to buyers, %(balance)s Stars to balances")
        % {"stars": refunds.stars, "balance": refunds.to_balance},
    )


def card_paying_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="paying_buyers",
        title=_("Paying buyers"),
        unit="buyers",
        formula=_("Buyers with at least one payment in the period, with Stars or from the balance."),
        current=facts.buyers.current.paying,
        previous=facts.buyers.previous.paying,
    )


def card_new_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="new_buyers",
        title=_("New buyers"),
        unit="buyers",
        formula=_("Paying buyers whose first payment ever is in the period."),
        current=facts.buyers.current.new,
        previous=facts.buyers.previous.new,
    )


def card_returning_buyers(facts: Facts) -> Kpi:
    return Kpi(
        key="returning_buyers",
        title=_("Returning buyers"),
        unit="buyers",
        formula=_("Paying buyers who had paid before the period (paying buyers − new buyers)."),
        current=facts.buyers.current.returning,
        previous=facts.buyers.previous.returning,
    )


def card_active_subscribers(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="active_subscribers",
        title=_("Active subscribers"),
        unit="subscribers",
        formula=_(
            "Subscriptions running at the end of the period (trials included, disabled ones not); "
            "the trend compares with the end of the previous period. Past days come from the daily count."
        ),
        current=_active(end.current),
        previous=_active(end.previous),
    )


def card_mrr(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="mrr",
        title=_("MRR"),
        unit="stars_per_month",
        formula=_(
            "Monthly recurring revenue at the end of the period: for every active subscription whose latest "
            "subscription payment moved money, that payment's Stars ÷ its tariff days × 30, added up."
        ),
        current=_mrr(end.current),
        previous=_mrr(end.previous),
        detail=gettext("%(paid)s paid subscriptions") % {"paid": _paid_active(end.current) or 0},
    )


def card_renewal_rate(facts: Facts) -> Kpi:
    renewed, lapsed = facts.buyers, facts.lapsed
    return Kpi(
        key="renewal_rate",
        title=_("Renewal rate"),
        unit="percent",
        formula=_(
            "Renewed ÷ (renewed + lapsed) × 100. Renewed: buyers who paid for a subscription in the period "
            "and had paid for one before it. Lapsed: subscribers who had paid for a subscription, whose "
            "subscription ran out in the period and who have not renewed since."
        ),
        current=_ratio(renewed.current.renewed, renewed.current.renewed + lapsed.current, percent=True),
        previous=_ratio(renewed.previous.renewed, renewed.previous.renewed + lapsed.previous, percent=True),
        detail=gettext("%(renewed)s renewed, %(lapsed)s lapsed")
        % {"renewed": renewed.current.renewed, "lapsed": lapsed.current},
    )


def card_churn(facts: Facts) -> Kpi:
    start = facts.subscribers_at_start
    return Kpi(
        key="churn",
        title=_("Churn"),
        unit="percent",
        formula=_(
            "Lapsed ÷ paid subscribers active at the start of the period × 100 (lapsed as in the renewal "
            "rate; the start from the daily count of the day before)."
        ),
        current=_ratio(facts.lapsed.current, _paid_active(start.current), percent=True),
        previous=_ratio(facts.lapsed.previous, _paid_active(start.previous), percent=True),
        higher_is_better=False,
    )


def card_arpu(facts: Facts) -> Kpi:
    end = facts.subscribers_at_end
    return Kpi(
        key="arpu",
        title=_("ARPU"),
        unit="stars_per_subscriber",
        formula=_("Net revenue ÷ active subscribers at the end of the period."),
        current=_ratio(facts.net_revenue.current, _active(end.current)),
        previous=_ratio(facts.net_revenue.previous, _active(end.previous)),
    )


def card_arppu(facts: Facts) -> Kpi:
    return Kpi(
        key="arppu",
        title=_("ARPPU"),
        unit="stars_per_buyer",
        formula=_("Net revenue ÷ paying buyers."),
        current=_ratio(facts.net_revenue.current, facts.buyers.current.paying),
        previous=_ratio(facts.net_revenue.previous, facts.buyers.previous.paying),
    )


def card_conversion(facts: Facts) -> Kpi:
    funnel = facts.funnel.current
    return Kpi(
        key="conversion",
        title=_("Invoice → paid"),
        unit="percent",
        formula=_("Stars invoices created in the period that were paid ÷ Stars invoices created in the period × 100."),
        current=funnel.conversion_percent,
        previous=facts.funnel.previous.conversion_percent,
        detail=gettext("%(invoices)s invoices → %(paid)s paid") % {"invoices": funnel.invoices, "paid": funnel.paid},
    )


def card_trials(facts: Facts) -> Kpi | None:
    if not facts.trial_offered:
        return None
    return Kpi(
        key="trials_started",
        title=_("Free trials started"),
        unit="trials",
        formula=_("Free trials taken in the period."),
        current=facts.trials.current.started,
        previous=facts.trials.previous.started,
    )


def card_trial_conversion(facts: Facts) -> Kpi | None:
    if not facts.trial_offered:
        return None
    trials = facts.trials.current
    return Kpi(
        key="trials_converted",
        title=_("Free trials → paid"),
        unit="percent",
        formula=_(
            "Of the free trials taken in the period, the share whose buyer paid for a subscription afterwards "
            "(up to now)."
        ),
        current=trials.conversion_percent,
        previous=facts.trials.previous.conversion_percent,
        detail=gettext("%(converted)s of %(started)s paid")
        % {"converted": trials.converted, "started": trials.started},
    )


def card_expiring_soon(facts: Facts) -> Kpi:
    return Kpi(
        key="expiring_soon",
        title=_("Expiring in 7 days"),
        unit="subscriptions",
        formula=_("Active subscriptions that run out within the next 7 days (from now, whatever the period)."),
        current=facts.expiring_soon,
        compare=False,
        link=reverse("admin:users_buyer_changelist") + "?subscription=expiring",
    )


# The cards, in the order the page shows them. A card function returns None to stay hidden.
KPI_CARDS: list[Callable[[Facts], Kpi | None]] = [
    card_net_revenue,
    card_paying_buyers,
    card_new_buyers,
    card_returning_buyers,
    card_active_subscribers,
    card_mrr,
    card_renewal_rate,
    card_churn,
    card_arpu,
    card_arppu,
    card_conversion,
    card_trials,
    card_trial_conversion,
    card_refunds,
    card_expiring_soon,
]


def kpi_cards(facts: Facts) -> list[Kpi]:
    return [card for card in (build(facts) for build in KPI_CARDS) if card is not None]


# --- Charts (server-side SVG; every coordinate a plain-number string) -----------------------------

PALETTE = ("#417690", "#e0a526", "#5b9a68", "#b35c44", "#7a5ea8", "#3f8f9e", "#c77a9b", "#8c8c3a")
TOPUP_SERIES = "topup"


def _n(value: float) -> str:
    """A coordinate for an SVG attribute: a dot decimal whatever the language."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


@dataclass(frozen=True)
class Segment:
    x: str
    y: str
    width: str
    height: str
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: str
    label: str
    anchor: str


def _ticks(days: list[date], *, x_of: Callable[[int], float]) -> list[Tick]:
    if not days:
        return []
    picks = sorted({0, len(days) // 2, len(days) - 1})
    anchors = {0: "start", len(days) - 1: "end"}
    return [Tick(x=_n(x_of(i)), label=days[i].isoformat(), anchor=anchors.get(i, "middle")) for i in picks]


@dataclass(frozen=True)
class RevenueChart:
    width: int
    height: int
    baseline: str
    top: int
    segments: list[Segment]
    legend: list[dict]
    ticks: list[Tick]
    total: int


def _tariff_title(row: dict) -> str:
    """The tariff's title in the reader's language (the Russian one may be empty)."""
    if (get_language() or "").startswith("ru") and row["tariff__title_ru"]:
        return row["tariff__title_ru"]
    return row["tariff__title"] or "—"


def revenue_by_day_and_tariff(rows: list[dict]) -> tuple[dict[date, dict[str, int]], dict[str, str]]:
    """Stars paid through Telegram per day and per tariff (top-ups as one series of their
    own), and the tariffs' titles."""
    found: dict[date, dict[str, int]] = {}
    titles: dict[str, str] = {}
    for row in rows:
        if row["method"] != Payment.Method.STARS:
            continue
        series = TOPUP_SERIES if row["kind"] == Payment.Kind.TOPUP else str(row["tariff_id"])
        titles.setdefault(series, _tariff_title(row))
        day = found.setdefault(row["day"], {})
        day[series] = day.get(series, 0) + row["stars"]
    return found, titles


def revenue_chart(*, facts: Facts, width: int = 900, height: int = 240) -> RevenueChart:
    """Stacked bars: one per day, one coloured part per tariff."""
    period = facts.period
    by_day, titles = revenue_by_day_and_tariff(facts.sales_by_day)
    series = sorted({key for day in by_day.values() for key in day}, key=lambda key: (key == TOPUP_SERIES, key))
    colors = {key: PALETTE[index % len(PALETTE)] for index, key in enumerate(series)}
    names = {key: (gettext("Top-ups") if key == TOPUP_SERIES else titles.get(key, "—")) for key in series}
    days = period.day_list()
    top = max((sum(day.values()) for day in by_day.values()), default=0) or 1
    plot_height = height - 40
    step = width / len(days)
    segments = []
    for index, day in enumerate(days):
        y = plot_height + 10.0
        for key in series:
            stars = by_day.get(day, {}).get(key, 0)
            if not stars:
                continue
            part = plot_height * stars / top
            y -= part
            segments.append(
                Segment(
                    x=_n(index * step + 1),
                    y=_n(y),
                    width=_n(max(step - 2, 1)),
                    height=_n(part),
                    color=colors[key],
                    title=f"{day.isoformat()} · {names[key]}: {stars} XTR",
                )
            )
    legend = [{"color": colors[key], "name": names[key]} for key in series]
    return RevenueChart(
        width=width,
        height=height,
        baseline=_n(plot_height + 10),
        top=top if by_day else 0,
        segments=segments,
        legend=legend,
        ticks=_ticks(days, x_of=lambda i: i * step + step / 2),
        total=sum(sum(day.values()) for day in by_day.values()),
    )


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # "x,y x,y …" for one <polyline> (a missing day breaks the line)


@dataclass(frozen=True)
class Dot:
    cx: str
    cy: str
    css: str
    title: str


@dataclass(frozen=True)
class SubscribersChart:
    width: int
    height: int
    baseline: str
    top: int
    lines: list[Line]
    dots: list[Dot]
    ticks: list[Tick]
    days_counted: int
    days: int


def subscribers_chart(*, facts: Facts, width: int = 900, height: int = 240) -> SubscribersChart:
    """Active and paid subscribers at the end of each day of the period (days without a
    daily count are left out; today is counted live)."""
    days = facts.period.day_list()
    counts = [facts.subscribers_on(day) for day in days]
    top = max((count.active for count in counts if count), default=0) or 1
    plot_height = height - 40
    step = width / len(days)

    def x_of(index: int) -> float:
        return index * step + step / 2

    def y_of(value: int) -> float:
        return plot_height + 10 - plot_height * value / top

    lines, dots = [], []
    for css, value_of in (("active", lambda c: c.active), ("paid", lambda c: c.paid_active)):
        run: list[str] = []
        for index, count in enumerate(counts):
            if count is None:
                if len(run) > 1:
                    lines.append(Line(css=css, points=" ".join(run)))
                run = []
                continue
            x, y = x_of(index), y_of(value_of(count))
            run.append(f"{_n(x)},{_n(y)}")
            dots.append(Dot(cx=_n(x), cy=_n(y), css=css, title=f"{days[index].isoformat()}: {value_of(count)}"))
        if len(run) > 1:
            lines.append(Line(css=css, points=" ".join(run)))
    return SubscribersChart(
        width=width,
        height=height,
        baseline=_n(plot_height + 10),
        top=top if any(counts) else 0,
        lines=lines,
        dots=dots,
        ticks=_ticks(days, x_of=x_of),
        days_counted=sum(1 for count in counts if count),
        days=len(days),
    )


# --- Tables and what needs attention ------------------------------------------------------------------


def sales_by_tariff(*, facts: Facts) -> list[dict]:
    """Paid subscriptions per tariff in the period: count, Stars through Telegram, Stars from the balance."""
    tariffs: dict[int | None, dict] = {}
    for row in facts.sales_by_day:
        if row["kind"] != Payment.Kind.SUBSCRIPTION:
            continue
        sold = tariffs.setdefault(
            row["tariff_id"],
            {
                "tariff_id": row["tariff_id"],
                "title": row["tariff__title"] or "—",
                "count": 0,
                "stars": 0,
                "from_balance": 0,
            },
        )
        sold["count"] += row["count"]
        sold["stars" if row["method"] == Payment.Method.STARS else "from_balance"] += row["stars"]
    return sorted(tariffs.values(), key=lambda sold: (-sold["count"], sold["tariff_id"] or 0))


def sales_by_promo(*, period: Period, until: datetime, limit: int = TOP_PROMOS) -> list[dict]:
    """The promo codes that sold the most in the period."""
    rows = list(
        Payment.objects.filter(
            paid_at__gte=period.start, paid_at__lt=until, status__in=PAID_STATUSES, promo__isnull=False, is_mock=False
        )
        .order_by()
        .values("promo_id", "promo__code")
        .annotate(count=Count("*"), stars=Sum("amount"))
        .order_by("-count", "promo_id")[:limit]
    )
    return [{**row, "code": row["promo__code"]} for row in rows]


@dataclass(frozen=True)
class Attention:
    """What someone has to look at, whatever the period."""

    open_reviews: int
    refund_debts: int  # refunds Telegram made after the top-up's Stars were spent
    refund_debt_stars: int
    pending_refunds: int  # refunds kept until their payment is recorded
    pending_payments: int
    panel_alerts: list[ProvisioningAlert]  # refunds the panel may not know of

    @property
    def anything(self) -> bool:
        return bool(self.open_reviews or self.refund_debts or self.pending_refunds or self.panel_alerts)


PENDING = Q(status=Payment.Status.PENDING)
REFUND_DEBT = Q(refund_shortfall__gt=0)


def attention_counts() -> dict[str, int]:
    """Pending invoices, open reviews and refund debts: each counted from its own index
    (one query over all three would read every pending row from the table)."""
    debts = Payment.objects.filter(REFUND_DEBT).aggregate(
        refund_debts=Count("created_at"), refund_debt_stars=Sum("refund_shortfall", default=0)
    )
    return {
        "pending_payments": Payment.objects.filter(PENDING).count(),
        "open_reviews": Payment.objects.filter(REVIEW_OPEN).count(),
        **debts,
    }


def attention_needed() -> Attention:
    counts = attention_counts()
    return Attention(
        open_reviews=counts["open_reviews"],
        refund_debts=counts["refund_debts"],
        refund_debt_stars=counts["refund_debt_stars"],
        pending_refunds=PendingRefund.objects.filter(applied_at__isnull=True).count(),
        pending_payments=counts["pending_payments"],
        panel_alerts=provisioning_alerts(),
    )


def star_balance() -> int | None:
    """The bot's own Star balance as last read by the background task; None when
    unknown (Telegram not configured, not answering, or not read yet). A page
    never waits on Telegram: a missing value is refreshed in the background."""
    cached = cache.get(STAR_BALANCE_CACHE_KEY)
    if cached is None:
        enqueue(REFRESH_STAR_BALANCE_TASK)
        cached = cache.get(STAR_BALANCE_CACHE_KEY) or {}
    return cached.get("balance")


def star_balance_refresh() -> int | None:
    """Read getMyStarBalance and cache it (failures too, so Telegram is asked at most once a minute)."""
    balance = None
    if telegram_configured():
        try:
            balance = client().get_my_star_balance()
        except TelegramError:
            logger.warning("getMyStarBalance failed; the dashboard shows it as unavailable", exc_info=True)
    cache.set(STAR_BALANCE_CACHE_KEY, {"balance": balance}, STAR_BALANCE_CACHE_SECONDS)
    return balance


def last_reconciliation() -> ReconciliationRun | None:
    """The newest reconciliation run, or None when there is none."""
    return ReconciliationRun.objects.first()  # the model's ordering: newest first


# --- The page ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    period: Period
    previous_period: Period
    facts: Facts
    cards: list[Kpi]
    revenue_chart: RevenueChart
    subscribers_chart: SubscribersChart
    by_tariff: list[dict]
    by_promo: list[dict]
    attention: Attention
    star_balance: int | None
    last_reconciliation: ReconciliationRun | None
    notes: list[str] = field(default_factory=list)

    @property
    def trials(self) -> Trials:
        return self.facts.trials.current

    def card(self, key: str) -> Kpi | None:
        return next((card for card in self.cards if card.key == key), None)


@contextmanager
def _one_snapshot_without_jit():
    """Every figure from one snapshot of the data (a transaction), and on PostgreSQL without
    JIT compilation: the planner's estimates for these aggregates trigger it, and compiling
    costs more (hundreds of ms) than running them over their index ranges."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # And room to count distinct buyers of a long period in memory.
                cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        yield


def dashboard_build(*, period: Period, notes: list[str] | None = None, now: datetime | None = None) -> Dashboard:
    with _one_snapshot_without_jit():
        return _dashboard(period=period, notes=notes, now=now)


def _dashboard(*, period: Period, notes: list[str] | None, now: datetime | None) -> Dashboard:
    facts = Facts(period=period, now=now)
    until = min(period.end, facts.now)
    return Dashboard(
        period=period,
        previous_period=facts.previous_period,
        facts=facts,
        cards=kpi_cards(facts),
        revenue_chart=revenue_chart(facts=facts),
        subscribers_chart=subscribers_chart(facts=facts),
        by_tariff=sales_by_tariff(facts=facts),
        by_promo=sales_by_promo(period=period, until=until),
        attention=attention_needed(),
        star_balance=star_balance(),
        last_reconciliation=last_reconciliation(),
        notes=notes or [],
    )


def presets_for_page() -> list[tuple[str, object]]:
    return [(key, label) for key, (label, _resolve) in PRESETS.items()]


# --- Scrape-time totals for the metrics endpoint ---------------------------------------


def payment_counts() -> list[tuple[str, str, int]]:
    """(status, source, count) of every payment."""
    rows = Payment.objects.order_by().values_list("status", "source").annotate(count=Count("*"))
    return [(status, source, count) for status, source, count in rows]


def stars_revenue_by_kind() -> dict[str, int]:
    """Stars that moved through Telegram, by ledger kind (purchases, top-ups, refunds are negative)."""
    rows = LedgerEntry.objects.order_by().exclude(amount=0).values_list("kind").annotate(stars=Sum("amount"))
    return {kind: int(stars or 0) for kind, stars in rows}
