"""The baseline of bench/bot_precheckout.py: the least a python-telegram-bot
application can do with a pre-checkout query, answer it with ok, with no
database, no storage and no checks. Long polling with the same batch size,
allowed updates and concurrency as `runbot` (the benchmark asserts they match),
against the Bot API server given on the command line:

    python bench/minimal_precheckout_bot.py <bot api root> <token> [<long poll seconds>]

Stops on SIGTERM/SIGINT. It imports nothing of the shop (no Django).
"""

from __future__ import annotations

import datetime as dtm
import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, PreCheckoutQueryHandler

CONCURRENT_UPDATES = 8  # telegram_bot.application.CONCURRENT_UPDATES
CONNECTION_POOL_SIZE = 16  # telegram_bot.application.CONNECTION_POOL_SIZE
GET_UPDATES_LIMIT = 100  # telegram_bot.application.GET_UPDATES_LIMIT (PTB's Updater always asks for 100)
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]  # telegram_bot.constants.ALLOWED_UPDATES


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.pre_checkout_query.answer(ok=True)


def main() -> None:
    root, token = sys.argv[1], sys.argv[2]
    poll_seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{root.rstrip('/')}/bot")
        .concurrent_updates(CONCURRENT_UPDATES)
        .connection_pool_size(CONNECTION_POOL_SIZE)
        .build()
    )
    application.add_handler(PreCheckoutQueryHandler(answer))
    application.run_polling(
        allowed_updates=ALLOWED_UPDATES, timeout=dtm.timedelta(seconds=poll_seconds), poll_interval=0.0
    )


if __name__ == "__main__":
    main()
