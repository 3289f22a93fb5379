"""Subscribers as the owner counts them: active now, paying, and MRR; and the daily
count that gives the dashboard its history (subscription rows only know the present).

A subscription is active while its expiry is ahead and it is not disabled. It is a paid
one when the buyer's latest subscription payment moved money (trials, 100 % promos and
mock payments move none); its monthly value is that payment's Stars over its tariff
days, times 30. MRR is the sum of those values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, ExpressionWrapper, F, FloatField, OuterRef, Q, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from payments.models import Payment, SubscriberSnapshot
from payments.selectors import PAID_METHODS
from subscriptions.models import Subscription

DAYS_PER_MONTH = 30


def active_at(moment: datetime) -> Q:
    return Q(expires_at__gt=moment) & ~Q(status=Subscription.Status.DISABLED)


@dataclass(frozen=True)
class SubscriberCount:
    active: int
    paid_active: int
    mrr: int  # Stars per month


def _latest_paid_monthly(user_ref):
    """The monthly value of a buyer's latest paid subscription payment (a backward index scan)."""
    return (
        Payment.objects.filter(
            user_id=user_ref,
            kind=Payment.Kind.SUBSCRIPTION,
            status=Payment.Status.SUCCEEDED,
            method__in=PAID_METHODS,
            paid_at__isnull=False,
            is_mock=False,
            days__gt=0,
        )
        .order_by("-paid_at")
        .annotate(monthly=ExpressionWrapper(F("amount") * float(DAYS_PER_MONTH) / F("days"), output_field=FloatField()))
        .values("monthly")[:1]
    )


def subscribers_now(*, now: datetime | None = None) -> SubscriberCount:
    """One query: every active subscription with the monthly value of its buyer's latest
    paid subscription payment (an index probe per subscription)."""
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        # A lateral join runs the probe once per subscription (a subquery in the
        # select list would run once for the count and again for the sum).
        latest_sql, latest_params = _latest_paid_monthly(RawSQL("s.user_id", ())).query.sql_with_params()
        table = Subscription._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT count(*), count(m.monthly), coalesce(sum(m.monthly), 0)
                FROM {table} s LEFT JOIN LATERAL ({latest_sql}) m ON true
                WHERE s.expires_at > %s AND s.status <> %s
                """,  # noqa: S608 - SQL compiled by the ORM and our table name; values are parameters
                [*latest_params, now, Subscription.Status.DISABLED],
            )
            active, paid_active, mrr = cursor.fetchone()
        return SubscriberCount(active=active, paid_active=paid_active, mrr=round(mrr))
    totals = (
        Subscription.objects.filter(active_at(now))
        .annotate(monthly=Subquery(_latest_paid_monthly(OuterRef("user_id")), output_field=FloatField()))
        .aggregate(active=Count("*"), paid_active=Count("monthly"), mrr=Sum("monthly", default=0.0))
    )
    return SubscriberCount(active=totals["active"], paid_active=totals["paid_active"], mrr=round(totals["mrr"]))


def subscriber_snapshot_record(*, now: datetime | None = None) -> SubscriberSnapshot:
    """Count the subscribers now and keep it as today's figure (the day's last count wins)."""
    now = now or timezone.now()
    count = subscribers_now(now=now)
    snapshot, _created = SubscriberSnapshot.objects.update_or_create(
        day=timezone.localdate(now),
        defaults={
            "active": count.active,
            "paid_active": count.paid_active,
            "mrr": count.mrr,
            "recorded_at": now,
        },
    )
    return snapshot
