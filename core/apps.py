from celery import current_app
from django.apps import AppConfig, apps
from django.conf import settings
from django.contrib import admin
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Shop core")

    def ready(self) -> None:
        # Register every app's tasks.py in every process (Celery itself does this only
        # when a worker starts), so tasks can be handed over by name from anywhere.
        current_app.autodiscover_tasks(force=True)

        from core.schedules import periodic_tasks_ensure  # needs the beat models, loaded only now

        # Once per migrate, after django_celery_beat's own tables exist.
        post_migrate.connect(
            periodic_tasks_ensure,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="core.periodic_tasks_ensure",
        )
        # The shop's name instead of "Django administration".
        admin.site.site_header = settings.SHOP_NAME
        admin.site.site_title = settings.SHOP_NAME
        admin.site.index_title = _("Shop administration")
