"""Support and Finance may view the buyers list and the subscriber counts by day
(the view rights of every shop model, granted again: only adds)."""

import importlib

from django.db import migrations


def grant(apps, schema_editor):
    importlib.import_module("payments.migrations.0004_admin_groups").create_groups(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0014_translated_labels_mock_flag_dashboard_indexes"),
        ("users", "0005_translated_labels_buyers"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
