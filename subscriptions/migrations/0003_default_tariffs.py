from django.conf import settings
from django.db import migrations

DEFAULTS = (
    ("1m", "1 month", 1, 30, "SUBSCRIPTION_STARS_1MONTH"),
    ("3m", "3 months", 3, 90, "SUBSCRIPTION_STARS_3MONTHS"),
    ("6m", "6 months", 6, 180, "SUBSCRIPTION_STARS_6MONTHS"),
    ("12m", "12 months", 12, 360, "SUBSCRIPTION_STARS_12MONTHS"),
)


def create_default_tariffs(apps, schema_editor):
    """Seed the four tariffs from SUBSCRIPTION_STARS_*; admins edit them later."""
    Tariff = apps.get_model("subscriptions", "Tariff")
    for order, (code, title, months, days, price_setting) in enumerate(DEFAULTS):
        Tariff.objects.get_or_create(
            code=code,
            defaults={
                "title": title,
                "months": months,
                "days": days,
                "price_stars": getattr(settings, price_setting),
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0002_initial")]

    operations = [migrations.RunPython(create_default_tariffs, migrations.RunPython.noop)]
