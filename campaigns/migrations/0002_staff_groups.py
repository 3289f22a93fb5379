"""The staff groups see campaigns: Support views them, Finance also creates and edits them."""

from django.db import migrations

SUPPORT = ["view_campaign", "view_campaignattribution"]
FINANCE = [*SUPPORT, "add_campaign", "change_campaign"]


def grant(apps, schema_editor):
    # Permissions are normally created after the last migration; they must exist to be granted.
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_contenttypes(app_config, verbosity=0, apps=apps)
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Support", SUPPORT), ("Finance", FINANCE)):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("payments", "0004_admin_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
