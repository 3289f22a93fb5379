from django.core.management.base import BaseCommand, CommandError
from telegram.error import TelegramError

from telegram_bot import bot_api


class Command(BaseCommand):
    help = "Remove the bot's webhook (needed before `runbot` long polling)."

    def add_arguments(self, parser):
        parser.add_argument("--drop-pending-updates", action="store_true", help="discard updates waiting in Telegram")

    def handle(self, *args, **options):
        if not bot_api.telegram_configured():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set.")
        try:
            bot_api.call(lambda bot: bot.delete_webhook(drop_pending_updates=options["drop_pending_updates"]))
        except TelegramError as exc:
            raise CommandError(f"Telegram refused to delete the webhook: {exc}")
        self.stdout.write("webhook deleted")
