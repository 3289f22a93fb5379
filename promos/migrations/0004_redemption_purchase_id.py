from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("promos", "0003_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="promoredemption",
            name="purchase_id",
            field=models.UUIDField(blank=True, null=True, unique=True),
        ),
    ]
