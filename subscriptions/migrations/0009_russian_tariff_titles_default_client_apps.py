from django.db import migrations

DEFAULT_APPS = (
    # platform, name, https page (store or releases page), order
    ("ios", "Happ", "https://apps.apple.com/app/happ-proxy-utility/id6504287215", 0),
    ("ios", "v2RayTun", "https://apps.apple.com/app/v2raytun/id6476628951", 1),
    ("ios", "Streisand", "https://apps.apple.com/app/streisand/id6450534064", 2),
    ("android", "Happ", "https://play.google.com/store/apps/details?id=com.happproxy", 0),
    ("android", "v2rayNG", "https://play.google.com/store/apps/details?id=com.v2ray.ang", 1),
    ("android", "Hiddify", "https://play.google.com/store/apps/details?id=app.hiddify.com", 2),
    ("windows", "Happ", "https://github.com/Happ-proxy/happ-desktop/releases/latest", 0),
    ("windows", "Hiddify", "https://github.com/hiddify/hiddify-app/releases/latest", 1),
    ("windows", "v2rayN", "https://github.com/2dust/v2rayN/releases/latest", 2),
    ("macos", "Happ", "https://apps.apple.com/app/happ-proxy-utility/id6504287215", 0),
    ("macos", "Hiddify", "https://github.com/hiddify/hiddify-app/releases/latest", 1),
    ("linux", "Happ", "https://github.com/Happ-proxy/happ-desktop/releases/latest", 0),
    ("linux", "Hiddify", "https://github.com/hiddify/hiddify-app/releases/latest", 1),
    ("linux", "v2rayN", "https://github.com/2dust/v2rayN/releases/latest", 2),
)


def months_in_russian(months: int) -> str:
    """1 месяц, 3 месяца, 6 месяцев, 12 месяцев, 21 месяц ..."""
    if months % 10 == 1 and months % 100 != 11:
        word = "месяц"
    elif 2 <= months % 10 <= 4 and not 12 <= months % 100 <= 14:
        word = "месяца"
    else:
        word = "месяцев"
    return f"{months} {word}"


def russian_titles(apps, schema_editor):
    """Existing tariffs get a Russian title from their months (admins edit it later)."""
    Tariff = apps.get_model("subscriptions", "Tariff")
    for tariff in Tariff.objects.filter(title_ru="", months__gt=0):
        tariff.title_ru = months_in_russian(tariff.months)
        tariff.save(update_fields=["title_ru"])


def default_client_apps(apps, schema_editor):
    """The apps Remnawave users use most, per platform; admins edit the list."""
    ClientApp = apps.get_model("subscriptions", "ClientApp")
    if ClientApp.objects.exists():
        return
    ClientApp.objects.bulk_create(
        [ClientApp(platform=platform, name=name, url=url, sort_order=order) for platform, name, url, order in DEFAULT_APPS]
    )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0008_tariff_texts_client_apps_shop_settings")]

    operations = [
        migrations.RunPython(russian_titles, migrations.RunPython.noop),
        migrations.RunPython(default_client_apps, migrations.RunPython.noop),
    ]
