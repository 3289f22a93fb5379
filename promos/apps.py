from django.apps import AppConfig


class PromosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "promos"
