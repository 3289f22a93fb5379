from django.conf import settings
from django.db import migrations

CODE = "1m-auto"


def create_monthly_renewing_tariff(apps, schema_editor):
    """A new shop offers a monthly plan that Telegram renews by itself, priced like
    the one-month tariff (SUBSCRIPTION_STARS_1MONTH); admins edit or hide it later."""
    Tariff = apps.get_model("subscriptions", "Tariff")
    Tariff.objects.get_or_create(
        code=CODE,
        defaults={
            "title": "Monthly, auto-renewing",
            "title_ru": "Ежемесячно, автопродление",
            "description": "Renews every 30 days until you cancel",
            "description_ru": "Продлевается каждые 30 дней, пока вы не отмените",
            "months": 1,
            "days": 30,
            "price_stars": min(settings.SUBSCRIPTION_STARS_1MONTH, 10000),
            "renews_monthly": True,
            "sort_order": 4,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0012_tariff_renews_monthly")]

    operations = [migrations.RunPython(create_monthly_renewing_tariff, migrations.RunPython.noop)]
