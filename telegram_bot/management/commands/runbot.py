"""`python manage.py runbot`: the Telegram bot with long polling.

Every update is stored before it is handled; failed ones are retried with
backoff. SIGINT/SIGTERM stop it cleanly. `--retries-only` runs just the retry
loop, for webhook deployments (the web server receives the updates).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from telegram_bot.application import POLL_TIMEOUT, RETRY_INTERVAL, run_bot
from telegram_bot.bot_api import telegram_configured

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the Telegram bot (long polling) until SIGINT/SIGTERM."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--poll-timeout", type=int, default=POLL_TIMEOUT, help="getUpdates long-poll seconds")
        parser.add_argument("--retry-interval", type=float, default=RETRY_INTERVAL, help="seconds between retries")
        parser.add_argument(
            "--retries-only", action="store_true", help="no polling: only re-run failed stored updates (webhook mode)"
        )

    def handle(self, *args, **options) -> None:
        if not telegram_configured():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set")
        asyncio.run(
            self.main(
                poll_timeout=options["poll_timeout"],
                retry_interval=options["retry_interval"],
                polling=not options["retries_only"],
            )
        )
        self.stdout.write("bot stopped")

    async def main(self, *, poll_timeout: int, retry_interval: float, polling: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_bot(stop, poll_timeout=poll_timeout, retry_interval=retry_interval, polling=polling)
