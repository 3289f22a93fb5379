"""Flags for each buyer's first paid payment and first paid subscription (the dashboard's
new buyers and renewals). Adding a column with a constant default is instant on
PostgreSQL; the flags of existing payments are set by the next migration."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0015_staff_view_buyers_subscriber_counts"),
        ("promos", "0006_translated_labels"),
        ("subscriptions", "0015_translated_labels"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="payment", name="payment_paid_window_idx"),
        migrations.AddField(
            model_name="payment",
            name="first_paid",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="The buyer's first payment that moved money (Stars or the balance).",
                verbose_name="buyer's first payment",
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="first_paid_subscription",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="The buyer's first subscription paid with Stars or from the balance.",
                verbose_name="buyer's first paid subscription",
            ),
        ),
    ]
