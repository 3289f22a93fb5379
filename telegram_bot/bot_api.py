"""Synchronous doors to the Telegram Bot API for services, views and commands.

The bot loop uses python-telegram-bot's Application directly; code outside it
(API views, admin actions, management commands, provisioning) calls these.
Each call opens a short-lived `telegram.Bot` on its own event loop, so it is
safe from any thread. Never call these inside a database transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings
from telegram import Bot, InlineKeyboardMarkup, LabeledPrice
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

T = TypeVar("T")

CURRENCY = "XTR"


class TelegramNotConfigured(RuntimeError):
    """No TELEGRAM_BOT_TOKEN: the shop runs on mock payments."""


def bot_base_url() -> str:
    """`<root>/bot<token>`, or `<root>/bot<token>/test` in Telegram's test environment."""
    root = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return f"{root}/bot{{token}}/test" if settings.TELEGRAM_TEST_ENV else f"{root}/bot{{token}}"


def bot_base_file_url() -> str:
    root = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return f"{root}/file/bot{{token}}/test" if settings.TELEGRAM_TEST_ENV else f"{root}/file/bot{{token}}"


def telegram_configured() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN)


def _requests(timeout: float) -> tuple[HTTPXRequest, HTTPXRequest]:
    def one() -> HTTPXRequest:
        return HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout)

    return one(), one()


def make_bot(*, timeout: float = 10.0, requests: tuple[HTTPXRequest, HTTPXRequest] | None = None) -> Bot:
    if not telegram_configured():
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")
    request, updates_request = requests or _requests(timeout)
    return Bot(
        token=settings.TELEGRAM_BOT_TOKEN,
        base_url=bot_base_url(),
        base_file_url=bot_base_file_url(),
        request=request,
        get_updates_request=updates_request,
    )


def call(fn: Callable[[Bot], Awaitable[T]], *, timeout: float = 10.0) -> T:
    """Run one Bot API coroutine on a fresh event loop and return its result.

    The Bot is not `initialize()`d: that would cost a getMe round trip per
    call, and none of these methods needs the bot's own profile.
    """

    async def runner() -> T:
        requests = _requests(timeout)
        bot = make_bot(timeout=timeout, requests=requests)
        try:
            return await fn(bot)
        finally:
            for request in requests:
                await request.shutdown()

    return asyncio.run(runner())


def create_invoice_link(*, title: str, description: str, payload: str, amount: int, label: str | None = None) -> str:
    return call(
        lambda bot: bot.create_invoice_link(
            title=title[:32],
            description=description[:255],
            payload=payload,
            currency=CURRENCY,
            prices=[LabeledPrice(label=(label or title)[:32], amount=amount)],
        )
    )


def refund_star_payment(*, user_id: int, charge_id: str) -> bool:
    return call(lambda bot: bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge_id))


def get_my_star_balance() -> int:
    balance = call(lambda bot: bot.get_my_star_balance())
    return int(balance.amount)


def get_star_transactions(*, offset: int = 0, limit: int = 100):
    return call(lambda bot: bot.get_star_transactions(offset=offset, limit=limit))


def send_message(*, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    call(lambda bot: bot.send_message(chat_id=chat_id, text=text, reply_markup=reply_markup))


def is_already_refunded(error: TelegramError) -> bool:
    """Telegram's answer to a repeated refund ("CHARGE_ALREADY_REFUNDED"), any letter case."""
    text = str(getattr(error, "message", "") or error).lower().replace("_", " ")
    return "charge already refunded" in text
