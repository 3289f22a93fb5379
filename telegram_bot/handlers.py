"""python-telegram-bot handlers: doors that parse the update, run one screen
(sync services through sync_to_async) and send what it returns."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import LabeledPrice, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from core.metrics import PRECHECKOUT_SECONDS
from telegram_bot import keyboards, screens
from telegram_bot.pipeline import current_attempt, db, seconds_since_received
from telegram_bot.screens import Profile, Reply, Say, SendInvoice

logger = logging.getLogger(__name__)


async def send(bot, chat_id: int, replies: list[Reply]) -> None:
    for reply in replies:
        if isinstance(reply, Say):
            await bot.send_message(chat_id=chat_id, text=reply.text, reply_markup=reply.markup)
        elif isinstance(reply, SendInvoice):
            params = reply.params
            await bot.send_invoice(
                chat_id=chat_id,
                title=params.title,
                description=params.description,
                payload=params.payload,
                currency=params.currency,
                prices=[LabeledPrice(label=params.label, amount=params.amount)],
            )


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE, screen: Callable, *args, **kwargs) -> None:
    replies = await db(screen)(Profile.of(update.effective_user), *args, **kwargs)
    await send(context.bot, update.effective_chat.id, replies)


# --- Commands and text ------------------------------------------------------------


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    argument = context.args[0] if context.args else ""
    await show(update, context, screens.start, argument[:80])


def command(screen: Callable) -> Callable:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await show(update, context, screen)

    handler.__name__ = f"on_{screen.__name__}"
    return handler


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await show(update, context, screens.text_message, (update.effective_message.text or "")[:64])


# --- Buttons ------------------------------------------------------------------------

EXACT = {
    keyboards.MENU: screens.menu,
    keyboards.BUY: screens.buy,
    keyboards.SUBSCRIPTION: screens.subscription,
    keyboards.BALANCE: screens.balance,
    keyboards.PROMO: screens.promo_prompt,
    keyboards.HELP: screens.help_screen,
    keyboards.CANCEL: screens.promo_cancel,
}
PREFIXED = [
    (keyboards.TARIFF, screens.tariff),
    (keyboards.PAY_BALANCE, screens.pay_from_balance),
    (keyboards.PAY, screens.pay),
    (keyboards.PROMO_FOR, screens.promo_prompt),
]


def route(data: str) -> tuple[Callable, tuple]:
    """The screen for a button's callback data; anything unknown shows the menu."""
    if data in EXACT:
        return EXACT[data], ()
    for prefix, screen in PREFIXED:
        if data.startswith(prefix):
            return screen, (data[len(prefix) :],)
    if data.startswith(keyboards.TOPUP) and data[len(keyboards.TOPUP) :].isdigit():
        return screens.topup, (int(data[len(keyboards.TOPUP) :]),)
    return screens.menu, ()


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    try:
        await query.answer()
    except BadRequest as exc:  # too old (e.g. a retried update): the spinner is cosmetic
        logger.info("could not answer callback query %s: %s", query.id, exc)
    screen, args = route(query.data or "")
    await show(update, context, screen, *args)


# --- Payments -------------------------------------------------------------------------


async def on_precheckout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.pre_checkout_query
    result = await db(screens.precheckout)(
        language_code=query.from_user.language_code,
        payload=query.invoice_payload,
        from_user_id=query.from_user.id,
        total_amount=query.total_amount,
        currency=query.currency,
    )
    if result.ok:
        await query.answer(ok=True)
    else:
        logger.info("pre-checkout %s refused: %s", query.id, result.reason)
        await query.answer(ok=False, error_message=result.message)
    PRECHECKOUT_SECONDS.labels(ok=str(result.ok).lower()).observe(seconds_since_received())


async def on_successful_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    paid = update.effective_message.successful_payment
    await show(
        update,
        context,
        screens.payment_received,
        payload=paid.invoice_payload,
        charge_id=paid.telegram_payment_charge_id,
        amount=paid.total_amount,
        currency=paid.currency,
        provider_charge_id=paid.provider_payment_charge_id or "",
        is_retry=current_attempt() > 1,
    )


async def on_refunded_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    refund = update.effective_message.refunded_payment
    charge_id = refund.telegram_payment_charge_id
    await show(update, context, screens.payment_refunded, charge_id=charge_id, amount=refund.total_amount)


def register_handlers(application: Application) -> None:
    application.add_handler(PreCheckoutQueryHandler(on_precheckout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_successful_payment))
    application.add_handler(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, on_refunded_payment))
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("buy", command(screens.buy)))
    application.add_handler(CommandHandler("menu", command(screens.menu)))
    application.add_handler(CommandHandler("help", command(screens.help_screen)))
    application.add_handler(CommandHandler("paysupport", command(screens.paysupport)))
    application.add_handler(CommandHandler("terms", command(screens.terms)))
    application.add_handler(CommandHandler("privacy", command(screens.privacy)))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    # Unknown commands and anything else a person sends: the help.
    application.add_handler(MessageHandler(filters.COMMAND, command(screens.help_screen)))
