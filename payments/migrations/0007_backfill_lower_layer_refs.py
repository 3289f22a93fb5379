"""Copy what the lower apps used to reach through foreign keys into payments
(outbox rows, promo redemptions, the subscription's tariff) into their own
columns, before those foreign keys are dropped."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def forwards(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    ProvisioningTask = apps.get_model("subscriptions", "ProvisioningTask")
    PromoRedemption = apps.get_model("promos", "PromoRedemption")
    Subscription = apps.get_model("subscriptions", "Subscription")

    purchase_of = Payment.objects.filter(pk=OuterRef("payment_id")).values("purchase_id")[:1]
    ProvisioningTask.objects.filter(payment__isnull=False).update(purchase_id=Subquery(purchase_of))
    PromoRedemption.objects.filter(payment__isnull=False).update(purchase_id=Subquery(purchase_of))

    latest_tariff = (
        Payment.objects.filter(user_id=OuterRef("user_id"), status="succeeded", tariff__isnull=False)
        .order_by("-paid_at")
        .values("tariff_id")[:1]
    )
    Subscription.objects.update(tariff_id=Subquery(latest_tariff))
    Subscription.objects.filter(link_sent_at__isnull=False).update(link_state="sent")


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_admin_groups_refresh"),
        ("subscriptions", "0006_outbox_refs_link_state_tariff"),
        ("promos", "0004_redemption_purchase_id"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
