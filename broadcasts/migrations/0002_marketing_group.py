"""The Marketing staff group: writes, tests, sends and cancels broadcasts, and sees their deliveries.

Support and Finance may view broadcasts and their deliveries (what a buyer was sent, for support
questions) but not send them: a broadcast reaches every buyer and cannot be taken back, so the right
to send is given on purpose, by adding someone to Marketing (a superuser may always). Only adds.
"""

import importlib

from django.db import migrations

groups = importlib.import_module("payments.migrations.0004_admin_groups")

MARKETING = [
    "broadcasts.add_broadcast",
    "broadcasts.change_broadcast",
    "broadcasts.delete_broadcast",
    "broadcasts.view_broadcast",
    "broadcasts.send_broadcast",
    "broadcasts.view_delivery",
]
VIEW = ["broadcasts.view_broadcast", "broadcasts.view_delivery"]


def grant(apps, schema_editor):
    groups._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    marketing, _ = Group.objects.get_or_create(name="Marketing")
    marketing.permissions.add(*groups._permissions(apps, MARKETING))
    for name in ("Support", "Finance"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*groups._permissions(apps, VIEW))


def remove_marketing(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Marketing").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("broadcasts", "0001_initial"),
        ("payments", "0011_finance_resolves_reviews"),
    ]

    operations = [migrations.RunPython(grant, remove_marketing)]
