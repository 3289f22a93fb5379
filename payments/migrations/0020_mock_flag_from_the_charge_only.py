"""`is_mock` from the charge id alone: a payment is mock when a mock completion paid it
(its charge id starts with "mock_"), never because its `source` says "mock" (a client
could name that source on an invoice it then paid with real Stars).

A generated column cannot be altered: it is dropped and added again with the indexes
that include it. Buyers with a payment that counted as mock only by its source get their
first-payment flags computed again (such a payment may have been their first)."""

from django.db import migrations, models


def index_paid_window():
    return models.Index(
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
    )


def index_created_window():
    return models.Index(
        fields=["created_at"], include=("paid_at", "kind", "method", "is_mock"), name="payment_created_window_idx"
    )


def index_refunded_window():
    return models.Index(
        condition=models.Q(("refunded_at__isnull", False)),
        fields=["refunded_at"],
        include=("amount", "method", "is_mock"),
        name="payment_refunded_window_idx",
    )


def index_user_paid():
    return models.Index(
        condition=models.Q(("paid_at__isnull", False)),
        fields=["user", "paid_at"],
        include=("kind", "method", "status", "amount", "days", "is_mock"),
        name="payment_user_paid_idx",
    )


INDEXES = [index_paid_window, index_created_window, index_refunded_window, index_user_paid]
PAID = {
    "paid_at__isnull": False,
    "is_mock": False,
    "amount__gt": 0,
    "status__in": ("succeeded", "refunded"),
    "method__in": ("stars", "balance"),
}


def reflag_buyers_of_relabelled_payments(apps, schema_editor):
    """The first-payment flags of the buyers whose payment stops counting as mock."""
    Payment = apps.get_model("payments", "Payment")
    buyers = set(Payment.objects.filter(source="mock", **PAID).values_list("user_id", flat=True).distinct())
    for user_id in buyers:
        paid = list(Payment.objects.filter(user_id=user_id, **PAID).order_by("paid_at", "id").values_list("id", "kind"))
        first = paid[0][0]
        first_subscription = next((pk for pk, kind in paid if kind == "subscription"), None)
        mine = Payment.objects.filter(user_id=user_id)
        mine.update(first_paid=False, first_paid_subscription=False)
        mine.filter(pk=first).update(first_paid=True)
        if first_subscription is not None:
            mine.filter(pk=first_subscription).update(first_paid_subscription=True)


class Migration(migrations.Migration):
    dependencies = [("payments", "0019_dashboard_renewals_index")]

    operations = [
        *(migrations.RemoveIndex(model_name="payment", name=index().name) for index in INDEXES),
        migrations.RemoveField(model_name="payment", name="is_mock"),
        migrations.AddField(
            model_name="payment",
            name="is_mock",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(telegram_payment_charge_id__startswith="mock_", then=models.Value(True)),
                    default=models.Value(False),
                ),
                output_field=models.BooleanField(),
                verbose_name="mock payment",
            ),
        ),
        *(migrations.AddIndex(model_name="payment", index=index()) for index in INDEXES),
        migrations.RunPython(reflag_buyers_of_relabelled_payments, migrations.RunPython.noop),
    ]
