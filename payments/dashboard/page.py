"""The dashboard page: the cards and charts of a period, the tables, what needs attention
whatever the period, the bot's Star balance and the last reconciliation."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import CharField, Count, Q, Sum, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.background import enqueue
from integrations.telegram import TelegramError, client, telegram_configured
from payments.dashboard.campaigns import CampaignFigures, campaign_figures
from payments.dashboard.cards import Kpi, kpi_cards
from payments.dashboard.charts import RevenueChart, SubscribersChart, revenue_chart, subscribers_chart
from payments.dashboard.facts import Facts, Trials
from payments.dashboard.period import PRESETS, Period
from payments.models import Payment, PendingRefund, ReconciliationRun
from payments.reviews import OPEN as REVIEW_OPEN
from payments.selectors import PAID_STATUSES
from subscriptions.selectors import PanelStatus, ProvisioningAlert, panel_status, provisioning_alerts

logger = logging.getLogger(__name__)

STAR_BALANCE_CACHE_KEY = "admin:dashboard:star_balance"
STAR_BALANCE_CACHE_SECONDS = 60
REFRESH_STAR_BALANCE_TASK = "payments.refresh_star_balance"
TOP_PROMOS = 10

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


# The configuration's parts the dashboard breaks sales down by (keys of Payment.configuration).
OPTION_BREAKDOWN = (
    ("plan", _("plan")),
    ("devices", _("devices")),
    ("traffic", _("traffic")),
    ("location", _("location")),
)


def sales_by_option(*, period: Period, until: datetime) -> list[dict]:
    """Paid subscriptions in the period by plan and by option chosen (from each payment's
    configuration snapshot): count, distinct buyers, Stars (Telegram and balance together).
    One query: a grouped part per breakdown, joined by UNION ALL."""
    paid = Payment.objects.filter(
        paid_at__gte=period.start,
        paid_at__lt=until,
        status__in=PAID_STATUSES,
        kind=Payment.Kind.SUBSCRIPTION,
        is_mock=False,
    ).exclude(configuration={})
    russian = (get_language() or "").startswith("ru")
    parts = []
    for key, _label in OPTION_BREAKDOWN:
        title_key = "title_ru" if russian and key != "plan" else "title"
        parts.append(
            paid.annotate(
                breakdown=Value(key, output_field=CharField()),
                option=KeyTextTransform(title_key, KeyTransform(key, "configuration")),
                fallback=KeyTextTransform("title", KeyTransform(key, "configuration")),
            )
            .exclude(fallback=None)
            .order_by()
            .values("breakdown", "option", "fallback")
            .annotate(count=Count("pk"), buyers=Count("user", distinct=True), stars=Sum("amount"))
        )
    labels = dict(OPTION_BREAKDOWN)
    order = {key: index for index, (key, _label) in enumerate(OPTION_BREAKDOWN)}
    rows = sorted(
        parts[0].union(*parts[1:], all=True), key=lambda r: (order[r["breakdown"]], -r["count"], r["fallback"])
    )
    return [
        {
            "kind": labels[row["breakdown"]],
            "title": row["option"] or row["fallback"],
            "count": row["count"],
            "buyers": row["buyers"],
            "stars": row["stars"],
        }
        for row in rows
    ]


def campaigns_in_period(*, period: Period, until: datetime) -> list[CampaignFigures]:
    """Every campaign's figures in the period (cost per buyer and return: all time), the ones
    that brought something first, by revenue."""
    rows = campaign_figures(since=period.start, until=until)
    active = [row for row in rows if row.starts or row.trials or row.first_purchases or row.revenue or row.refunds]
    return sorted(active, key=lambda row: (-row.revenue, -row.starts, row.slug))


@dataclass(frozen=True)
class Attention:
    """What someone has to look at, whatever the period."""

    open_reviews: int
    refund_debts: int  # refunds Telegram made after the top-up's Stars were spent
    refund_debt_stars: int
    pending_refunds: int  # refunds kept until their payment is recorded
    pending_payments: int
    panel_alerts: list[ProvisioningAlert]  # refunds the panel may not know of
    panel: PanelStatus  # the panel's version and what it refuses the shop (token, squads)

    @property
    def anything(self) -> bool:
        return bool(
            self.open_reviews or self.refund_debts or self.pending_refunds or self.panel_alerts or not self.panel.ok
        )


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
        panel=panel_status(),
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
    by_option: list[dict]
    by_promo: list[dict]
    by_campaign: list[CampaignFigures]
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
        by_option=sales_by_option(period=period, until=until),
        by_promo=sales_by_promo(period=period, until=until),
        by_campaign=campaigns_in_period(period=period, until=until),
        attention=attention_needed(),
        star_balance=star_balance(),
        last_reconciliation=last_reconciliation(),
        notes=notes or [],
    )


def presets_for_page() -> list[tuple[str, object]]:
    return [(key, label) for key, (label, _resolve) in PRESETS.items()]
