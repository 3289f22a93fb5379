"""Reads for the admin's revenue dashboard.

Every figure is one aggregate query over an indexed date window (see the
covering indexes on Payment), so the page costs the same number of queries at
a hundred payments and at a million.

"Revenue" is Stars received through Telegram (Stars invoices and top-ups, by
the day they were paid); purchases from the internal balance moved no new
Stars and are shown as sales by tariff only.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.background import enqueue
from integrations.telegram import TelegramError, client, telegram_configured
from payments.models import LedgerEntry, Payment, PendingRefund, ReconciliationRun, TrialClaim
from payments.reviews import OPEN as REVIEW_OPEN
from promos.models import PromoCode
from subscriptions.models import Subscription, Tariff
from subscriptions.selectors import ProvisioningAlert, provisioning_alerts

logger = logging.getLogger(__name__)

WINDOWS = (30, 90)
STAR_BALANCE_CACHE_KEY = "admin:dashboard:star_balance"
STAR_BALANCE_CACHE_SECONDS = 60
REFRESH_STAR_BALANCE_TASK = "payments.refresh_star_balance"
PAID_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)
TOP_PROMOS = 10


@dataclass(frozen=True)
class DayRevenue:
    day: date
    stars: int
    payments: int


@dataclass(frozen=True)
class Funnel:
    invoices: int
    paid: int
    median_seconds_to_pay: float | None

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


@dataclass(frozen=True)
class Attention:
    """What someone has to look at, whatever the window."""

    open_reviews: int
    refund_debts: int  # refunds Telegram made after the top-up's Stars were spent
    refund_debt_stars: int
    pending_refunds: int  # refunds kept until their payment is recorded
    panel_alerts: list[ProvisioningAlert]  # refunds the panel may not know of

    @property
    def anything(self) -> bool:
        return bool(self.open_reviews or self.refund_debts or self.pending_refunds or self.panel_alerts)


@dataclass(frozen=True)
class Dashboard:
    days: int
    since: datetime
    revenue_by_day: list[DayRevenue]
    revenue_total: int
    by_tariff: list[dict]
    by_promo: list[dict]
    refunds: dict
    funnel: Funnel
    trials: Trials
    pending_payments: int
    active_subscriptions: int
    star_balance: int | None
    last_reconciliation: object | None
    attention: Attention | None = None
    notes: list[str] = field(default_factory=list)


def _stars_received(since: datetime):
    return Payment.objects.filter(paid_at__gte=since, status__in=PAID_STATUSES, method=Payment.Method.STARS)


def revenue_by_day(*, since: datetime, days: int) -> list[DayRevenue]:
    """One row per calendar day of the window, zero-filled."""
    rows = (
        _stars_received(since)
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(stars=Sum("amount"), payments=Count("*"))
        .order_by("day")
    )
    found = {row["day"]: row for row in rows}
    first = timezone.localdate(since)
    result = []
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        row = found.get(day) or {"stars": 0, "payments": 0}
        result.append(DayRevenue(day=day, stars=row["stars"] or 0, payments=row["payments"]))
    return result


def sales_by_tariff(*, since: datetime) -> list[dict]:
    """Paid subscriptions per tariff: count, Stars through Telegram, Stars from the balance."""
    rows = (
        Payment.objects.filter(paid_at__gte=since, status__in=PAID_STATUSES, kind=Payment.Kind.SUBSCRIPTION)
        .values("tariff_id")
        .annotate(
            count=Count("*"),
            stars=Sum("amount", filter=Q(method=Payment.Method.STARS), default=0),
            from_balance=Sum("amount", filter=Q(method=Payment.Method.BALANCE), default=0),
        )
        .order_by("-count")
    )
    rows = list(rows)
    titles = dict(Tariff.objects.filter(pk__in=[r["tariff_id"] for r in rows]).values_list("pk", "title"))
    return [{**row, "title": titles.get(row["tariff_id"], "—")} for row in rows]


def sales_by_promo(*, since: datetime, limit: int = TOP_PROMOS) -> list[dict]:
    """The promo codes that sold the most in the window."""
    rows = list(
        Payment.objects.filter(paid_at__gte=since, status__in=PAID_STATUSES, promo__isnull=False)
        .values("promo_id")
        .annotate(count=Count("*"), stars=Sum("amount"))
        .order_by("-count", "promo_id")[:limit]
    )
    codes = dict(PromoCode.objects.filter(pk__in=[r["promo_id"] for r in rows]).values_list("pk", "code"))
    return [{**row, "code": codes.get(row["promo_id"], "—")} for row in rows]


def refunds_in_window(*, since: datetime) -> dict:
    return Payment.objects.filter(refunded_at__gte=since).aggregate(
        count=Count("*"),
        stars=Sum("amount", filter=Q(method=Payment.Method.STARS), default=0),
        to_balance=Sum("amount", filter=Q(method=Payment.Method.BALANCE), default=0),
    )


def invoice_funnel(*, since: datetime) -> Funnel:
    """Stars invoices created in the window → paid, and the median time to pay."""
    invoices = Payment.objects.filter(created_at__gte=since, method=Payment.Method.STARS)
    if connection.vendor == "postgresql":
        table = Payment._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT count(*), count(paid_at),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM paid_at - created_at))
                         FILTER (WHERE paid_at IS NOT NULL)
                FROM {table} WHERE created_at >= %s AND method = %s
                """,  # noqa: S608 - the table name is ours, values are parameters
                [since, Payment.Method.STARS],
            )
            total, paid, median = cursor.fetchone()
        return Funnel(invoices=total, paid=paid, median_seconds_to_pay=float(median) if median is not None else None)
    counts = invoices.aggregate(total=Count("pk"), paid=Count("paid_at"))
    # SQLite (development): the median in Python over a bounded sample.
    pairs = invoices.filter(paid_at__isnull=False).values_list("created_at", "paid_at")[:100_000]
    durations = [(paid - created).total_seconds() for created, paid in pairs]
    return Funnel(
        invoices=counts["total"],
        paid=counts["paid"],
        median_seconds_to_pay=statistics.median(durations) if durations else None,
    )


def trials_in_window(*, since: datetime) -> Trials:
    """Free trials started in the window, and how many of those buyers paid afterwards."""
    claims = TrialClaim.objects.filter(created_at__gte=since)
    paid_later = Payment.objects.filter(
        user_id=OuterRef("user_id"),
        kind=Payment.Kind.SUBSCRIPTION,
        status__in=PAID_STATUSES,
        method__in=(Payment.Method.STARS, Payment.Method.BALANCE),
        paid_at__gt=OuterRef("created_at"),
    )
    return Trials(started=claims.count(), converted=claims.filter(Exists(paid_later)).count())


def active_subscriptions() -> int:
    return (
        Subscription.objects.filter(expires_at__gt=timezone.now()).exclude(status=Subscription.Status.DISABLED).count()
    )


PENDING = Q(status=Payment.Status.PENDING)
REFUND_DEBT = Q(refund_shortfall__gt=0)


def attention_counts() -> dict[str, int]:
    """Pending invoices, open reviews and refund debts: one query over three indexes."""
    return Payment.objects.filter(PENDING | REVIEW_OPEN | REFUND_DEBT).aggregate(
        pending_payments=Count("pk", filter=PENDING),
        open_reviews=Count("pk", filter=REVIEW_OPEN),
        refund_debts=Count("pk", filter=REFUND_DEBT),
        refund_debt_stars=Sum("refund_shortfall", filter=REFUND_DEBT, default=0),
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


def attention_needed(*, counts: dict[str, int]) -> Attention:
    return Attention(
        open_reviews=counts["open_reviews"],
        refund_debts=counts["refund_debts"],
        refund_debt_stars=counts["refund_debt_stars"],
        pending_refunds=PendingRefund.objects.filter(applied_at__isnull=True).count(),
        panel_alerts=provisioning_alerts(),
    )


def dashboard_build(*, days: int = 30) -> Dashboard:
    days = days if days in WINDOWS else WINDOWS[0]
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days)
    by_day = revenue_by_day(since=since, days=days)
    counts = attention_counts()
    return Dashboard(
        days=days,
        since=since,
        revenue_by_day=by_day,
        revenue_total=sum(day.stars for day in by_day),
        by_tariff=sales_by_tariff(since=since),
        by_promo=sales_by_promo(since=since),
        refunds=refunds_in_window(since=since),
        funnel=invoice_funnel(since=since),
        trials=trials_in_window(since=since),
        pending_payments=counts["pending_payments"],
        active_subscriptions=active_subscriptions(),
        star_balance=star_balance(),
        last_reconciliation=last_reconciliation(),
        attention=attention_needed(counts=counts),
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def revenue_chart(*, points: list[DayRevenue], width: int = 900, height: int = 220) -> dict:
    """Bar geometry for a server-side SVG chart (no JavaScript)."""
    top = max((p.stars for p in points), default=0) or 1
    plot_height = height - 30
    step = width / max(len(points), 1)
    bars = []
    for index, point in enumerate(points):
        bar_height = plot_height * point.stars / top
        bars.append(
            Bar(
                x=round(index * step + 1, 2),
                y=round(plot_height - bar_height + 10, 2),
                width=round(max(step - 2, 1), 2),
                height=round(bar_height, 2),
                label=point.day.isoformat(),
                value=point.stars,
            )
        )
    ticks = []
    if bars:
        middle, last = bars[len(bars) // 2], bars[-1]
        ticks = [
            {"x": bars[0].x, "label": bars[0].label, "anchor": "start"},
            {"x": middle.x + middle.width / 2, "label": middle.label, "anchor": "middle"},
            {"x": last.x + last.width, "label": last.label, "anchor": "end"},
        ]
    return {"width": width, "height": height, "bars": bars, "top": top, "ticks": ticks, "baseline": plot_height + 10}


# --- Scrape-time totals for the metrics endpoint ---------------------------------------


def payment_counts() -> list[tuple[str, str, int]]:
    """(status, source, count) of every payment."""
    rows = Payment.objects.order_by().values_list("status", "source").annotate(count=Count("*"))
    return [(status, source, count) for status, source, count in rows]


def stars_revenue_by_kind() -> dict[str, int]:
    """Stars that moved through Telegram, by ledger kind (purchases, top-ups, refunds are negative)."""
    rows = LedgerEntry.objects.order_by().exclude(amount=0).values_list("kind").annotate(stars=Sum("amount"))
    return {kind: int(stars or 0) for kind, stars in rows}
