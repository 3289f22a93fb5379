"""Support and Finance may view the plan options (the view rights of every shop model, granted
again: only adds); Finance, who manages tariffs, manages the options and the combination prices too."""

import importlib

from django.db import migrations

FINANCE_OPTIONS = [
    "subscriptions.add_devicetier",
    "subscriptions.change_devicetier",
    "subscriptions.add_traffictier",
    "subscriptions.change_traffictier",
    "subscriptions.add_location",
    "subscriptions.change_location",
    "subscriptions.add_planprice",
    "subscriptions.change_planprice",
    "subscriptions.delete_planprice",
]


def grant(apps, schema_editor):
    groups = importlib.import_module("payments.migrations.0004_admin_groups")
    groups.create_groups(apps, schema_editor)
    finance = apps.get_model("auth", "Group").objects.get(name="Finance")
    finance.permissions.add(*groups._permissions(apps, FINANCE_OPTIONS))


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0021_payment_configuration"),
        ("subscriptions", "0019_plan_options"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
