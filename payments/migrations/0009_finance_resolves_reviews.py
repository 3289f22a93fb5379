"""Finance resolves payments flagged for review (the new payments.resolve_review)."""

import importlib

from django.db import migrations

groups = importlib.import_module("payments.migrations.0004_admin_groups")


def grant(apps, schema_editor):
    groups._ensure_permissions(apps)
    finance, _ = apps.get_model("auth", "Group").objects.get_or_create(name="Finance")
    finance.permissions.add(*groups._permissions(apps, ["payments.resolve_review"]))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label="payments", codename="resolve_review").first()
    finance = apps.get_model("auth", "Group").objects.filter(name="Finance").first()
    if permission and finance:
        finance.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [("payments", "0008_review_resolution_refund_holds_pending_refunds")]

    operations = [migrations.RunPython(grant, revoke)]
