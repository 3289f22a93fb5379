"""What the bot answers: synchronous functions that call the services and
render the reply in the buyer's language. Handlers run them through
sync_to_async (one call per update) and send what they return."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from telegram import ForceReply, InlineKeyboardMarkup

from core.errors import ApplicationError
from payments.models import Payment
from payments.refunds import refund_book
from payments.services import (
    InvoiceParams,
    PrecheckoutResult,
    invoice_params,
    precheckout_validate,
    purchase_complete,
    purchase_create_invoice,
    purchase_pay_from_balance,
    tariff_for_sale,
    topup_create_invoice,
)
from promos.selectors import offer_for, offers_for
from promos.services import PromoInvalid
from subscriptions.backends import provisioning_enabled
from subscriptions.models import Subscription
from subscriptions.selectors import subscription_view
from subscriptions.services import link_claim_for_reply
from telegram_bot import keyboards, texts
from telegram_bot.models import BotSession
from telegram_bot.services import (
    promo_apply,
    session_await_promo,
    session_clear_promo,
    session_for,
    session_update,
)
from users.models import User
from users.services import user_get_or_create_from_telegram

logger = logging.getLogger(__name__)

DEEP_LINK_PROMO = "promo_"


@dataclass(frozen=True)
class Say:
    text: str
    markup: InlineKeyboardMarkup | ForceReply | None = None


@dataclass(frozen=True)
class SendInvoice:
    params: InvoiceParams


Reply = Say | SendInvoice


@dataclass(frozen=True)
class Profile:
    """The Telegram user as the update describes them."""

    telegram_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None

    @classmethod
    def of(cls, tg_user) -> Profile:
        return cls(
            telegram_id=tg_user.id,
            username=tg_user.username,
            first_name=tg_user.first_name,
            last_name=tg_user.last_name,
            language_code=tg_user.language_code,
        )


def screen(fn: Callable[..., list[Reply]]) -> Callable[..., list[Reply]]:
    """Resolve the buyer, speak their language, and turn a service's refusal
    (ApplicationError) into its message instead of an error."""

    @functools.wraps(fn)
    def wrapper(profile: Profile, *args, **kwargs) -> list[Reply]:
        user = user_get_or_create_from_telegram(
            telegram_id=profile.telegram_id,
            username=profile.username,
            first_name=profile.first_name,
            last_name=profile.last_name,
            language_code=profile.language_code,
        )
        with translation.override(user.language):
            try:
                return fn(user, *args, **kwargs)
            except ApplicationError as exc:
                return [Say(str(exc.message), keyboards.back_to_menu())]

    return wrapper


def in_language(language_code: str | None, fn: Callable[[], str]) -> str:
    with translation.override(texts.language_for(language_code)):
        return fn()


# --- Menu ---------------------------------------------------------------------


@screen
def start(user: User, argument: str = "") -> list[Reply]:
    replies: list[Reply] = []
    if argument.startswith(DEEP_LINK_PROMO) and len(argument) > len(DEEP_LINK_PROMO):
        try:
            code = promo_apply(user=user, code=argument[len(DEEP_LINK_PROMO) :])
            replies.append(Say(texts.promo_applied(code)))
        except PromoInvalid as exc:
            replies.append(Say(str(exc.message)))
    replies.append(Say(texts.welcome(), keyboards.main_menu()))
    return replies


@screen
def menu(user: User) -> list[Reply]:
    return [Say(texts.main_menu(), keyboards.main_menu())]


@screen
def help_screen(user: User) -> list[Reply]:
    return [Say(texts.help_text(), keyboards.main_menu())]


@screen
def paysupport(user: User) -> list[Reply]:
    return [Say(texts.paysupport())]


@screen
def terms(user: User) -> list[Reply]:
    return [Say(texts.terms())]


@screen
def privacy(user: User) -> list[Reply]:
    return [Say(texts.privacy())]


# --- Buying -----------------------------------------------------------------------


def _tariff_list(user: User) -> list[Reply]:
    promo_code = session_for(user=user).promo_code
    offers = offers_for(user=user, promo_code=promo_code)
    if not offers:
        return [Say(texts.no_tariffs(), keyboards.back_to_menu())]
    lines = [texts.tariff_list(promo_code=promo_code), *(texts.tariff_line(offer.quote) for offer in offers)]
    return [Say("\n".join(lines), keyboards.tariffs(offers))]


def _summary(user: User, tariff_code: str) -> list[Reply]:
    tariff = tariff_for_sale(tariff=tariff_code)
    session = session_update(user=user, tariff_code=tariff.code)
    offer = offer_for(user=user, tariff=tariff, promo_code=session.promo_code)
    text = texts.summary(offer.quote, promo_note=offer.promo_refused)
    return [Say(text, keyboards.summary(offer, balance=user.stars_balance))]


@screen
def buy(user: User) -> list[Reply]:
    return _tariff_list(user)


@screen
def tariff(user: User, tariff_code: str) -> list[Reply]:
    return _summary(user, tariff_code)


@screen
def promo_prompt(user: User, tariff_code: str = "") -> list[Reply]:
    session_await_promo(user=user, tariff_code=tariff_code)
    return [Say(texts.promo_prompt(), keyboards.promo_reply())]


@screen
def promo_cancel(user: User) -> list[Reply]:
    session_update(user=user, awaiting=BotSession.Awaiting.NOTHING)
    return [Say(texts.promo_cancelled(), keyboards.main_menu())]


@screen
def text_message(user: User, text: str) -> list[Reply]:
    session = session_for(user=user)
    if session.awaiting != BotSession.Awaiting.PROMO:
        return [Say(texts.help_text(), keyboards.main_menu())]
    try:
        code = promo_apply(user=user, code=text, tariff_code=session.tariff_code)
    except PromoInvalid as exc:
        return [Say(texts.promo_refused(str(exc.message)), keyboards.cancel())]
    applied = Say(texts.promo_applied(code))
    if session.tariff_code:
        return [applied, *_summary(user, session.tariff_code)]
    return [applied, *_tariff_list(user)]


def _paid(user: User, payment: Payment, *, resend: bool = False) -> list[Reply]:
    """The payment confirmation. It carries the subscription link when the link
    is known and no other message took this purchase's link (the worker sends it
    otherwise, once); a resend after a failed send carries it again."""
    if payment.kind == Payment.Kind.TOPUP:
        user.refresh_from_db(fields=["stars_balance"])
        return [Say(texts.topped_up(amount=payment.amount, balance=user.stars_balance), keyboards.main_menu())]
    session_clear_promo(user=user)
    subscription = link_claim_for_reply(user=user)
    if subscription is not None:
        link = texts.LINK_HERE
    else:
        subscription = Subscription.objects.filter(user=user).first()
        if resend and subscription is not None and subscription.subscription_url:
            link = texts.LINK_HERE
        elif not provisioning_enabled():
            link = texts.LINK_NONE
        elif subscription is not None and subscription.link_state == Subscription.LinkState.SENT:
            link = texts.LINK_SENT
        else:
            link = texts.LINK_COMING
    return [Say(texts.paid(subscription=subscription, link=link), keyboards.main_menu())]


@screen
def pay(user: User, tariff_code: str) -> list[Reply]:
    promo_code = session_for(user=user).promo_code
    try:
        result = purchase_create_invoice(user=user, tariff=tariff_code, promo_code=promo_code or None, source="bot")
    except PromoInvalid as exc:
        # The promo stopped working since it was applied: say why, show the full price.
        session_update(user=user, promo_code="")
        return [Say(str(exc.message)), *_summary(user, tariff_code)]
    if result.payment.status == Payment.Status.SUCCEEDED:  # a 100 % promo: nothing to pay
        return _paid(user, result.payment)
    return [SendInvoice(invoice_params(payment=result.payment))]


@screen
def pay_from_balance(user: User, tariff_code: str) -> list[Reply]:
    promo_code = session_for(user=user).promo_code
    payment = purchase_pay_from_balance(user=user, tariff=tariff_code, promo_code=promo_code or None, source="bot")
    return _paid(user, payment)


@screen
def subscription(user: User) -> list[Reply]:
    return [Say(texts.subscription_status(subscription_view(user=user)), keyboards.subscription(can_buy=True))]


@screen
def balance(user: User) -> list[Reply]:
    return [Say(texts.balance(user.stars_balance), keyboards.balance(list(settings.BALANCE_TOPUP_AMOUNTS)))]


@screen
def topup(user: User, amount: int) -> list[Reply]:
    result = topup_create_invoice(user=user, amount=amount, source="bot")
    return [SendInvoice(invoice_params(payment=result.payment))]


# --- Payments ---------------------------------------------------------------------


def precheckout(
    *, language_code: str | None, payload: str, from_user_id: int, total_amount: int, currency: str
) -> PrecheckoutResult:
    """Validated in the buyer's language, so a refusal reads right in Telegram."""
    with translation.override(texts.language_for(language_code)):
        return precheckout_validate(
            payload=payload, from_user_id=from_user_id, total_amount=total_amount, currency=currency
        )


@screen
def payment_received(
    user: User,
    *,
    payload: str,
    charge_id: str,
    amount: int,
    currency: str,
    provider_charge_id: str,
    is_retry: bool = False,
) -> list[Reply]:
    """One grant, one confirmation: a repeated delivery says nothing, unless it
    is this very update run again after its confirmation failed to send."""
    result = purchase_complete(
        payload=payload,
        charge_id=charge_id,
        amount=amount,
        currency=currency,
        provider_charge_id=provider_charge_id,
        from_user_id=user.telegram_id,
    )
    if result.outcome == "needs_review":
        return [Say(texts.payment_needs_review())]
    resend = is_retry and result.payment.status == Payment.Status.SUCCEEDED and result.payment.user_id == user.pk
    if result.created or resend:
        return _paid(user, result.payment, resend=resend and not result.created)
    return []


@screen
def payment_refunded(user: User, *, charge_id: str, amount: int) -> list[Reply]:
    payment = Payment.objects.filter(telegram_payment_charge_id=charge_id).first()
    if payment is None:
        logger.warning("refunded_payment for unknown charge %s (user %s)", charge_id, user.telegram_id)
        return []
    result = refund_book(payment=payment, reason="refunded_payment from Telegram", source="telegram")
    return [Say(texts.refunded(amount=amount))] if result.created else []


# --- Errors -------------------------------------------------------------------------


def apology(language_code: str | None) -> str:
    return in_language(language_code, texts.apology)


def slow_down(language_code: str | None) -> str:
    return in_language(language_code, texts.slow_down)
