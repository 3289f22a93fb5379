"""Give Support and Finance the view rights on the models of the buyer's journey
(free trials, referrals, client apps, shop settings), and Finance the right to
change the shop settings and the client app list. Only adds."""

import importlib

from django.db import migrations

FINANCE_EXTRA = [
    "subscriptions.change_shopsettings",
    "subscriptions.view_shopsettings",
    "subscriptions.add_clientapp",
    "subscriptions.change_clientapp",
]


def grant(apps, schema_editor):
    groups = importlib.import_module("payments.migrations.0004_admin_groups")
    groups.create_groups(apps, schema_editor)  # new subscriptions/payments view rights
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    referral_views = Permission.objects.filter(content_type__app_label="referrals", codename__startswith="view_")
    for name in ("Support", "Finance"):
        Group.objects.get(name=name).permissions.add(*referral_views)
    Group.objects.get(name="Finance").permissions.add(*groups._permissions(apps, FINANCE_EXTRA))


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0008_trial_claim"),
        ("subscriptions", "0009_russian_tariff_titles_default_client_apps"),
        ("referrals", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
