from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0006_outbox_refs_link_state_tariff"),
        ("payments", "0007_backfill_lower_layer_refs"),
    ]

    operations = [
        migrations.RemoveField(model_name="provisioningtask", name="payment"),
    ]
