"""Both staff groups see Star subscriptions; cancelling or resuming one asks for the
refund permission (Finance), like a refund."""

import importlib

from django.db import migrations

groups = importlib.import_module("payments.migrations.0004_admin_groups")


def grant(apps, schema_editor):
    groups._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    view = groups._permissions(apps, ["payments.view_starsubscription"])
    for name in ("Support", "Finance"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [("payments", "0012_star_subscription")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
