from django.core.management.base import BaseCommand, CommandError
from telegram.error import TelegramError

from integrations.telegram import telegram_configured
from telegram_bot.application import run_once


class Command(BaseCommand):
    help = "Remove the bot's webhook (needed before `runbot` long polling)."

    def add_arguments(self, parser):
        parser.add_argument("--drop-pending-updates", action="store_true", help="discard updates waiting in Telegram")

    def handle(self, *args, **options):
        if not telegram_configured():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set.")
        try:
            run_once(lambda bot: bot.delete_webhook(drop_pending_updates=options["drop_pending_updates"]))
        except TelegramError as exc:
            raise CommandError(f"Telegram refused to delete the webhook: {exc}")
        self.stdout.write("webhook deleted")
