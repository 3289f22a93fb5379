from django.db import migrations, models
from django.db.models import F


def start_at_the_current_expiry(apps, schema_editor):
    # What the shop set before is not known any more; the current expiry is the best floor.
    Subscription = apps.get_model("subscriptions", "Subscription")
    Subscription.objects.filter(expires_at__isnull=False).update(expiry_high_water=F("expires_at"))


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0010_link_state_replied")]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="expiry_high_water",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(start_at_the_current_expiry, migrations.RunPython.noop),
    ]
