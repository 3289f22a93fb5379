"""`python manage.py runbot`: the Telegram bot with long polling.

Every update is stored before it is handled; failed ones are retried with
backoff by the background task. Without CELERY_BROKER_URL this process also
runs the background work itself (an embedded worker: provisioning, links,
reminders, retries), on threads of its own, never on the update loop's.
SIGINT/SIGTERM stop it cleanly. `--retries-only` runs just the loop that
re-runs failed updates, for webhook deployments without a worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from core.background import start_embedded_worker, stop_embedded_worker
from integrations.telegram import telegram_configured
from telegram_bot.application import POLL_TIMEOUT, RETRY_INTERVAL, run_bot

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
        retries_only = options["retries_only"]
        worker = start_embedded_worker() if not retries_only else None
        if worker is not None:
            logger.info("no CELERY_BROKER_URL: running the background work in this process")
        try:
            asyncio.run(
                self.main(
                    poll_timeout=options["poll_timeout"],
                    retry_interval=options["retry_interval"] if retries_only else None,
                    polling=not retries_only,
                )
            )
        finally:
            stop_embedded_worker()
        logger.info("bot process stopped")

    async def main(self, *, poll_timeout: int, retry_interval: float | None, polling: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_bot(stop, poll_timeout=poll_timeout, retry_interval=retry_interval, polling=polling)
