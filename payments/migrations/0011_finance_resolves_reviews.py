"""Finance resolves payments flagged for review (payments.resolve_review); both
staff groups may view the refunds kept until their payment is recorded."""

import importlib

from django.db import migrations

groups = importlib.import_module("payments.migrations.0004_admin_groups")


def grant(apps, schema_editor):
    groups._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    view = groups._permissions(apps, ["payments.view_pendingrefund"])
    support, _ = Group.objects.get_or_create(name="Support")
    support.permissions.add(*view)
    finance, _ = Group.objects.get_or_create(name="Finance")
    finance.permissions.add(*view, *groups._permissions(apps, ["payments.resolve_review"]))


class Migration(migrations.Migration):
    dependencies = [("payments", "0010_review_resolution_refund_holds_pending_refunds")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
