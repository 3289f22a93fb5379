"""A buyer's first payments: each payment that becomes paid is flagged when it is the
buyer's first that moved money (`first_paid`) and first such subscription
(`first_paid_subscription`). The dashboard counts new buyers and renewals over a
date window from these flags, without looking up every buyer's history.

The flags are set inside the transaction that makes the payment paid, under the buyer's
lock (every completion path takes it), so two payments of one buyer never both think
they are the first. A paid payment stays paid (a refund keeps it in the history), so a
flag never has to move.
"""

from __future__ import annotations

from django.db import connection

from payments.models import Payment, is_mock_charge
from payments.selectors import PAID_METHODS, paid_payments


def payment_mark_firsts(payment: Payment) -> None:
    """Flag a payment the caller is making paid (succeeded, or refunded as it is recorded),
    before saving it."""
    moved_money = payment.method in PAID_METHODS and payment.amount > 0
    if not moved_money or is_mock_charge(source=payment.source, charge_id=payment.telegram_payment_charge_id):
        return
    earlier = paid_payments().filter(user_id=payment.user_id).exclude(pk=payment.pk)
    payment.first_paid = not earlier.exists()
    if payment.kind == Payment.Kind.SUBSCRIPTION:
        payment.first_paid_subscription = not earlier.filter(kind=Payment.Kind.SUBSCRIPTION).exists()


def _first_per_buyer_sql(*, subscriptions_only: bool) -> str:
    table = Payment._meta.db_table
    kind = " AND kind = 'subscription'" if subscriptions_only else ""
    column = "first_paid_subscription" if subscriptions_only else "first_paid"
    # Our own table and fixed values; works on PostgreSQL and SQLite (window functions).
    return f"""
        UPDATE {table} SET {column} = TRUE
        WHERE id IN (
          SELECT id FROM (
            SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY paid_at, id) AS n
            FROM {table}
            WHERE paid_at IS NOT NULL AND NOT is_mock AND amount > 0
              AND status IN ('succeeded', 'refunded') AND method IN ('stars', 'balance'){kind}
          ) ranked
          WHERE n = 1
        ) AND NOT {column}
    """  # noqa: S608


def firsts_backfill() -> int:
    """Flag the first payments of rows written without the services (bulk data); returns how many."""
    flagged = 0
    with connection.cursor() as cursor:
        for subscriptions_only in (False, True):
            cursor.execute(_first_per_buyer_sql(subscriptions_only=subscriptions_only))
            flagged += cursor.rowcount
    return flagged
