"""The admin's two staff groups.

Support: view everything of the shop, extend/shorten subscriptions, re-run provisioning.
Finance: Support's rights, plus refunds, balance adjustments, expiring stale
invoices, and managing tariffs and promo codes.
"""

from django.db import migrations

SHOP_APPS = ["users", "subscriptions", "promos", "payments", "telegram_bot"]
SUPPORT_EXTRA = ["subscriptions.adjust_subscription"]
FINANCE_EXTRA = [
    "subscriptions.adjust_subscription",
    "payments.refund_payment",
    "payments.expire_stale_payments",
    "users.adjust_balance",
    "promos.add_promocode",
    "promos.change_promocode",
    "subscriptions.add_tariff",
    "subscriptions.change_tariff",
]


def _ensure_permissions(apps):
    # Permissions are normally created after the last migration (post_migrate);
    # on a fresh database they must exist before we can grant them.
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, apps=apps)
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for dotted in codenames:
        app_label, codename = dotted.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def _view_permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label__in=SHOP_APPS, codename__startswith="view_"))


def create_groups(apps, schema_editor):
    _ensure_permissions(apps)
    grant_groups(apps)


def grant_groups(apps):
    """Create the groups and add their permissions (which must exist); only adds."""
    Group = apps.get_model("auth", "Group")
    views = _view_permissions(apps)
    support, _ = Group.objects.get_or_create(name="Support")
    support.permissions.add(*views, *_permissions(apps, SUPPORT_EXTRA))
    finance, _ = Group.objects.get_or_create(name="Finance")
    finance.permissions.add(*views, *_permissions(apps, FINANCE_EXTRA))


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Support", "Finance"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("users", "0002_admin_permissions"),
        ("subscriptions", "0005_subscription_adjust_permission"),
        ("promos", "0003_initial"),
        ("payments", "0003_admin_permissions_indexes"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
