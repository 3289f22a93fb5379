"""Scrape-time totals for the metrics endpoint (not the dashboard page)."""

from __future__ import annotations

from django.db.models import Count, Sum

from payments.models import LedgerEntry, Payment


def payment_counts() -> list[tuple[str, str, int]]:
    """(status, source, count) of every payment."""
    rows = Payment.objects.order_by().values_list("status", "source").annotate(count=Count("*"))
    return [(status, source, count) for status, source, count in rows]


def stars_revenue_by_kind() -> dict[str, int]:
    """Stars that moved through Telegram, by ledger kind (purchases, top-ups, refunds are negative)."""
    rows = LedgerEntry.objects.order_by().exclude(amount=0).values_list("kind").annotate(stars=Sum("amount"))
    return {kind: int(stars or 0) for kind, stars in rows}
