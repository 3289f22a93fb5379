"""Reads about money shared by the admin's pages (dashboard, buyers, exports).

"Paid" means money moved: a purchase or top-up paid with Stars through Telegram or
from the internal balance (free purchases and trials move none), later refunded or
not, and never a mock payment (completed without money).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet, Sum

from payments.models import Payment

PAID_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)
PAID_METHODS = (Payment.Method.STARS, Payment.Method.BALANCE)
MONEY_PAID = Q(status__in=PAID_STATUSES, method__in=PAID_METHODS, paid_at__isnull=False, is_mock=False)


def paid_payments() -> QuerySet[Payment]:
    return Payment.objects.filter(MONEY_PAID)


@dataclass(frozen=True)
class BuyerTotals:
    stars_paid: int  # Stars paid through Telegram, refunded payments left out
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None


NO_PURCHASES = BuyerTotals(stars_paid=0, first_purchase_at=None, last_purchase_at=None)


def buyer_totals(*, user_ids: Iterable[int]) -> dict[int, BuyerTotals]:
    """What each of these buyers paid, and when first and last: one grouped query
    (an index range per buyer), for a page or a chunk of buyers at a time."""
    rows = (
        paid_payments()
        .filter(user_id__in=list(user_ids))
        .order_by()
        .values("user_id")
        .annotate(
            stars=Sum("amount", filter=Q(method=Payment.Method.STARS, status=Payment.Status.SUCCEEDED), default=0),
            first=Min("paid_at"),
            last=Max("paid_at"),
        )
    )
    return {
        row["user_id"]: BuyerTotals(
            stars_paid=row["stars"], first_purchase_at=row["first"], last_purchase_at=row["last"]
        )
        for row in rows
    }


def has_paid() -> Exists:
    """For a User queryset: the buyer has paid at all (their first paid payment exists;
    an anti-join over a small partial index, not over every payment)."""
    return Exists(Payment.objects.filter(first_paid=True, user_id=OuterRef("pk")))
