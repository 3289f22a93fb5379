"""python-telegram-bot handlers: doors that parse the update, run one screen
(sync services through sync_to_async) and send what it returns."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from telegram import InputFile, LabeledPrice, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
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
from payments.gateways.stars_invoice import telegram_charge
from telegram_bot import channel_gate, keyboards, owner, screens
from telegram_bot.pipeline import current_attempt, db, seconds_since_received
from telegram_bot.screens import Profile, Reply, Retire, Say, SendInvoice, SendInvoiceLink, SendPhoto

logger = logging.getLogger(__name__)


NOT_MODIFIED = "message is not modified"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def edit_or_send(bot, chat_id: int, message_id: int, reply: Say) -> None:
    """Show the reply in place of the pressed message. Unchanged content is fine as
    it is; a message that cannot be edited (deleted, too old, a photo) gets a new one."""
    try:
        await bot.edit_message_text(
            chat_id=chat_id,
            message_id=message_id,
            text=reply.text,
            parse_mode=ParseMode.HTML,
            reply_markup=reply.markup,
            link_preview_options=NO_PREVIEW,
        )
    except BadRequest as exc:
        if NOT_MODIFIED in str(exc).lower():
            return
        logger.info("could not edit message %s in chat %s (%s): sending a new one", message_id, chat_id, exc)
        await send_text(bot, chat_id, reply)


async def send_text(bot, chat_id: int, reply: Say) -> None:
    await bot.send_message(
        chat_id=chat_id,
        text=reply.text,
        parse_mode=ParseMode.HTML,
        reply_markup=reply.markup,
        link_preview_options=NO_PREVIEW,
    )


async def retire_buttons(bot, chat_id: int, message_id: int) -> None:
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
    except BadRequest as exc:  # gone or unchanged: nothing left to press either way
        logger.info("could not remove the buttons of message %s: %s", message_id, exc)


async def send(bot, chat_id: int, replies: list[Reply], *, message_id: int | None = None) -> None:
    """Send a screen's replies. With `message_id` (a button press on that message)
    the first Say that is not `fresh` edits it; everything else is a new message."""
    editable = message_id
    for reply in replies:
        if isinstance(reply, Say):
            if editable is not None and not reply.fresh:
                await edit_or_send(bot, chat_id, editable, reply)
                editable = None
            else:
                await send_text(bot, chat_id, reply)
        elif isinstance(reply, Retire):
            if message_id is not None:
                await retire_buttons(bot, chat_id, message_id)
                editable = None
        elif isinstance(reply, SendPhoto):
            await bot.send_photo(
                chat_id=chat_id,
                photo=InputFile(reply.photo, filename="qr.png"),
                caption=reply.caption or None,
                parse_mode=ParseMode.HTML,
            )
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
        elif isinstance(reply, SendInvoiceLink):
            params = reply.params
            link = await bot.create_invoice_link(
                title=params.title,
                description=params.description,
                payload=params.payload,
                currency=params.currency,
                prices=[LabeledPrice(label=params.label, amount=params.amount)],
                subscription_period=dt.timedelta(seconds=params.subscription_period),
            )
            markup = keyboards.subscribe_link(link=link, pay_label=reply.pay_label, back_label=reply.back_label)
            await send_text(bot, chat_id, Say(reply.text, markup))


def pressed_message_id(update: Update) -> int | None:
    """The message a button press came from, when the bot can still edit it."""
    query = update.callback_query
    message = query.message if query is not None else None
    return message.message_id if isinstance(message, Message) else None


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE, screen: Callable, *args, **kwargs) -> None:
    profile = Profile.of(update.effective_user)
    if channel_gate.stands_before(screen) and not await channel_gate.channel_joined(context.bot, profile.telegram_id):
        join_url = await channel_gate.join_url(context.bot)
        replies = await db(screens.behind_channel_gate)(profile, screen, join_url, *args, **kwargs)
    else:
        replies = await db(screen)(profile, *args, **kwargs)
    await send(context.bot, update.effective_chat.id, replies, message_id=pressed_message_id(update))


async def on_channel_check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "✅ I've joined": asked again at once (not from the cache)."""
    joined = not settings.REQUIRED_CHANNEL or await channel_gate.channel_joined(
        context.bot, update.effective_user.id, fresh=True
    )
    join_url = await channel_gate.join_url(context.bot) if not joined else ""
    await show(update, context, screens.channel_checked, joined=joined, join_url=join_url)


# --- Commands and text ------------------------------------------------------------


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    argument = context.args[0] if context.args else ""
    await show(update, context, screens.start, argument[:80])


def command(screen: Callable) -> Callable:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await show(update, context, screen)

    handler.__name__ = f"on_{screen.__name__}"
    return handler


async def on_find(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    term = context.args[0] if context.args else ""
    await show(update, context, owner.find, term[:64])


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await show(update, context, screens.text_message, (update.effective_message.text or "")[:64])


# --- Buttons ------------------------------------------------------------------------

EXACT = {
    keyboards.MENU: screens.menu,
    keyboards.BUY: screens.buy,
    keyboards.SUBSCRIPTION: screens.subscription,
    keyboards.CONNECT: screens.connect,
    keyboards.QR: screens.qr_code,
    keyboards.BALANCE: screens.balance,
    keyboards.PROMO: screens.promo_prompt,
    keyboards.HELP: screens.help_screen,
    keyboards.CANCEL: screens.promo_cancel,
    keyboards.TRIAL: screens.trial,
    keyboards.LANGUAGE: screens.language_choice,
    keyboards.AUTO_RENEWAL_ASK: screens.auto_renewal_ask,
    keyboards.AUTO_RENEWAL_CANCEL: screens.auto_renewal_cancel,
    keyboards.AUTO_RENEWAL_RESUME: screens.auto_renewal_resume,
    keyboards.DEVICES: screens.devices,
    keyboards.LOCATIONS: screens.location_choice,
}
PREFIXED = [
    (keyboards.TARIFF, screens.tariff),
    (keyboards.PAY_BALANCE, screens.pay_from_balance),
    (keyboards.PAY, screens.pay),
    (keyboards.PROMO_FOR, screens.promo_prompt),
    (keyboards.APPS, screens.connect),
    (keyboards.SET_LANGUAGE, screens.language_set),
    (keyboards.DEVICE_REMOVE, screens.device_remove_screen),
    (keyboards.SET_LOCATION, screens.location_set),
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
    if query.data == keyboards.INVITE:  # the invitation link names the bot
        await show(update, context, screens.invite, context.bot.username)
        return
    if query.data == keyboards.CHANNEL_CHECK:
        await on_channel_check(update, context)
        return
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
    charge = telegram_charge(
        payload=paid.invoice_payload,
        charge_id=paid.telegram_payment_charge_id,
        amount=paid.total_amount,
        currency=paid.currency,
        provider_charge_id=paid.provider_payment_charge_id or "",
        from_user_id=update.effective_user.id,
        is_recurring=bool(paid.is_recurring),
        is_first_recurring=bool(paid.is_first_recurring),
        subscription_expiration_date=paid.subscription_expiration_date,
    )
    await show(update, context, screens.payment_received, charge=charge, is_retry=current_attempt() > 1)


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
    application.add_handler(CommandHandler("language", command(screens.language_choice)))
    application.add_handler(CommandHandler("paysupport", command(screens.paysupport)))
    application.add_handler(CommandHandler("terms", command(screens.terms)))
    application.add_handler(CommandHandler("privacy", command(screens.privacy)))
    # The owner's commands (staff only; anyone else gets the help, like any unknown command).
    application.add_handler(CommandHandler("stats", command(owner.stats)))
    application.add_handler(CommandHandler("find", on_find))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    # Unknown commands and anything else a person sends: the help.
    application.add_handler(MessageHandler(filters.COMMAND, command(screens.help_screen)))
