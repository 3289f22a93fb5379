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
from django.db.models import Max, Min

from payments.models import Payment, is_mock_charge
from payments.selectors import PAID_METHODS, PAID_STATUSES, paid_payments


def moved_money(payment: Payment, *, charge_id: str | None) -> bool:
    """Paid with Stars or from the balance, some Stars, and not a mock completion (with `charge_id`)."""
    moved = payment.method in PAID_METHODS and payment.amount > 0
    return moved and not is_mock_charge(charge_id=charge_id)


def first_paid_sql(*, table: str, quote, subscription: bool = False) -> tuple[str, list]:
    """`NOT EXISTS (an earlier paid payment of the row's buyer [, a subscription])`, for a raw
    UPDATE of `table`: the rule of paid_payments() as SQL with its parameters (the claiming
    UPDATE of the purchase transaction sets the flags with it, see payments.services)."""
    column = {name: quote(Payment._meta.get_field(name).column) for name in ("user", "status", "method", "paid_at")}
    is_mock, kind, pk = quote("is_mock"), quote(Payment._meta.get_field("kind").column), quote(Payment._meta.pk.column)
    sql = (
        f"NOT EXISTS (SELECT 1 FROM {table} e WHERE e.{column['user']} = {table}.{column['user']} "  # noqa: S608
        f"AND e.{pk} <> {table}.{pk} AND e.{column['status']} IN (%s, %s) AND e.{column['method']} IN (%s, %s) "
        f"AND e.{column['paid_at']} IS NOT NULL AND NOT e.{is_mock}"
    )
    params: list = [*PAID_STATUSES, *PAID_METHODS]
    if subscription:
        sql += f" AND e.{kind} = %s"
        params.append(Payment.Kind.SUBSCRIPTION)
    return sql + ")", params


def payment_mark_firsts(payment: Payment) -> None:
    """Flag a payment the caller is making paid (succeeded, or refunded as it is recorded),
    before saving it."""
    if not moved_money(payment, charge_id=payment.telegram_payment_charge_id):
        return
    earlier = paid_payments().filter(user_id=payment.user_id).exclude(pk=payment.pk)
    payment.first_paid = not earlier.exists()
    if payment.kind == Payment.Kind.SUBSCRIPTION:
        payment.first_paid_subscription = not earlier.filter(kind=Payment.Kind.SUBSCRIPTION).exists()


# Both flags of a range of buyers in one pass (the same statement as the migration that
# filled them for the payments already there; PostgreSQL and SQLite alike).
_FIRSTS = """
    WITH ranked AS (
      SELECT id,
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY paid_at, id) AS n,
             CASE WHEN kind = 'subscription'
                  THEN ROW_NUMBER() OVER (PARTITION BY user_id, kind = 'subscription' ORDER BY paid_at, id)
             END AS n_subscription
      FROM {table}
      WHERE paid_at IS NOT NULL AND NOT is_mock AND amount > 0
        AND status IN ('succeeded', 'refunded') AND method IN ('stars', 'balance')
        AND user_id >= %s AND user_id < %s
    )
    UPDATE {table}
    SET first_paid = (id IN (SELECT id FROM ranked WHERE n = 1)),
        first_paid_subscription = (id IN (SELECT id FROM ranked WHERE n_subscription = 1))
    WHERE id IN (SELECT id FROM ranked WHERE n = 1 OR n_subscription = 1)
"""
BACKFILL_BATCH = 5000  # buyers per statement


def firsts_backfill() -> None:
    """Flag the first payments of rows written without the services (bulk data)."""
    bounds = Payment.objects.aggregate(low=Min("user_id"), high=Max("user_id"))
    if bounds["low"] is None:
        return
    sql = _FIRSTS.format(table=Payment._meta.db_table)
    with connection.cursor() as cursor:
        for low in range(bounds["low"], bounds["high"] + 1, BACKFILL_BATCH):
            cursor.execute(sql, [low, low + BACKFILL_BATCH])
