from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelegramBotConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "telegram_bot"
    verbose_name = _("Telegram bot")

    def ready(self) -> None:
        from telegram_bot import checks  # noqa: F401 - registers the settings checks
