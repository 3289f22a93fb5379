from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("promos", "0004_redemption_purchase_id"),
        ("payments", "0007_backfill_lower_layer_refs"),
    ]

    operations = [
        migrations.RemoveField(model_name="promoredemption", name="payment"),
    ]
