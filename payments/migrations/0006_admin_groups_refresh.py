"""Give the Support and Finance groups the view rights on models added after
0004_admin_groups (the reconciliation runs, the stored Telegram updates).
Idempotent: it re-runs 0004's grant, which only adds."""

import importlib

from django.db import migrations


def refresh_groups(apps, schema_editor):
    importlib.import_module("payments.migrations.0004_admin_groups").create_groups(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0005_reconciliationrun"),
        ("telegram_bot", "0001_initial"),
    ]

    operations = [migrations.RunPython(refresh_groups, migrations.RunPython.noop)]
