import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0005_subscription_adjust_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningtask",
            name="purchase_id",
            field=models.UUIDField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="provisioningtask",
            name="locked_by",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="provisioningtask",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="subscription",
            name="link_state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "nothing to send"),
                    ("due", "a purchase waits for its link message"),
                    ("sending", "a worker is sending the link"),
                    ("sent", "sent"),
                ],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="subscription",
            name="tariff",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="subscriptions.tariff",
            ),
        ),
    ]
