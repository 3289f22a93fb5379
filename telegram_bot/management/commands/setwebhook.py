import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram.error import TelegramError

from integrations.telegram import telegram_configured
from telegram_bot.application import run_once
from telegram_bot.constants import ALLOWED_UPDATES

# Telegram's rule for secret_token; it comes back in the X-Telegram-Bot-Api-Secret-Token header.
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Command(BaseCommand):
    help = "Point Telegram at the webhook (TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET) with the allowed updates."

    def add_arguments(self, parser):
        parser.add_argument("--drop-pending-updates", action="store_true", help="discard updates waiting in Telegram")

    def handle(self, *args, **options):
        url, secret = settings.TELEGRAM_WEBHOOK_URL, settings.TELEGRAM_WEBHOOK_SECRET
        if not telegram_configured():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set.")
        if not url:
            raise CommandError("TELEGRAM_WEBHOOK_URL is not set.")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise CommandError(f"TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram requires it), not {url!r}.")
        if not secret:
            raise CommandError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would accept forged updates.")
        if not SECRET_TOKEN.fullmatch(secret):
            raise CommandError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -.")
        try:

            async def set_and_read(bot):
                await bot.set_webhook(
                    url=url,
                    secret_token=secret,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=options["drop_pending_updates"],
                )
                return await bot.get_webhook_info()

            info = run_once(set_and_read)
        except TelegramError as exc:
            raise CommandError(f"Telegram refused the webhook: {exc}")
        self.stdout.write(
            f"webhook set to {info.url} (allowed updates: {', '.join(ALLOWED_UPDATES)}; "
            f"{info.pending_update_count} pending)"
        )
