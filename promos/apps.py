from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "promos"
    verbose_name = _("Promo codes")
