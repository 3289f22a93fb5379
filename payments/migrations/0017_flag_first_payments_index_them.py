"""The first-payment flags of the payments already there, then the indexes that read them.

Not atomic: the flags are set in batches of buyers, each its own short transaction, so a
big payments table is not locked while they are written; a batch sets both flags of its
buyers from scratch, so running this again after an interruption is safe."""

from django.db import migrations, models

PAID = (
    "paid_at IS NOT NULL AND NOT is_mock AND amount > 0 "
    "AND status IN ('succeeded', 'refunded') AND method IN ('stars', 'balance')"
)
FIRSTS = f"""
    WITH ranked AS (
      SELECT id,
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY paid_at, id) AS n,
             CASE WHEN kind = 'subscription'
                  THEN ROW_NUMBER() OVER (PARTITION BY user_id, kind = 'subscription' ORDER BY paid_at, id)
             END AS n_subscription
      FROM payments_payment
      WHERE {PAID} AND user_id >= %s AND user_id < %s
    )
    UPDATE payments_payment
    SET first_paid = (id IN (SELECT id FROM ranked WHERE n = 1)),
        first_paid_subscription = (id IN (SELECT id FROM ranked WHERE n_subscription = 1))
    WHERE id IN (SELECT id FROM ranked WHERE n = 1 OR n_subscription = 1)
"""
BATCH = 5000  # buyers per statement


def flag_firsts(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    bounds = Payment.objects.aggregate(low=models.Min("user_id"), high=models.Max("user_id"))
    if bounds["low"] is None:
        return
    with schema_editor.connection.cursor() as cursor:
        for low in range(bounds["low"], bounds["high"] + 1, BATCH):
            cursor.execute(FIRSTS, [low, low + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments", "0016_first_payment_flags")]

    operations = [
        migrations.RunPython(flag_firsts, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("paid_at__isnull", False)),
                fields=["paid_at"],
                include=(
                    "amount",
                    "status",
                    "method",
                    "kind",
                    "tariff",
                    "promo",
                    "created_at",
                    "user",
                    "is_mock",
                    "first_paid",
                    "first_paid_subscription",
                ),
                name="payment_paid_window_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("first_paid", True)),
                fields=["user"],
                name="payment_first_paid_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("first_paid_subscription", True)),
                fields=["user"],
                name="payment_first_sub_idx",
            ),
        ),
    ]
