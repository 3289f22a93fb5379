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
from django.utils.html import escape
from telegram import InlineKeyboardMarkup

from campaigns.links import start_link_parse
from campaigns.services import campaign_attribute
from core.errors import ApplicationError
from notifications import messages
from payments.charges import Charge
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.free import trial_start
from payments.gateways.registry import invoice_params, precheckout_validate
from payments.gateways.stars_invoice import InvoiceParams, PrecheckoutResult
from payments.gateways.stars_subscription import star_subscription_cancel, star_subscription_resume
from payments.models import Payment
from payments.refunds import refund_from_telegram
from payments.services import (
    purchase_complete,
    purchase_create_invoice,
    tariff_for_sale,
    topup_create_invoice,
    trial_refusal,
)
from payments.star_subscriptions import star_subscription_live_for
from promos.selectors import Offer, offer_for, offers_for
from promos.services import PromoInvalid
from referrals.selectors import referral_stats
from referrals.services import Attach, referral_attach, referral_code_for, referral_link
from subscriptions import devices as device_states
from subscriptions.backends import provisioning_enabled
from subscriptions.devices import DeviceList, device_remove, devices_for, traffic_for
from subscriptions.models import Subscription
from subscriptions.pricing import Selection, configuration_for, next_choice, option_prices, plan_options
from subscriptions.selectors import (
    client_apps,
    current_location_id,
    locations_for,
    referral_bonus_days,
    subscription_view,
    trial_days,
)
from subscriptions.services import link_claim_for_reply, subscription_location_change
from telegram_bot import keyboards, qr, texts
from telegram_bot.models import BotSession
from telegram_bot.services import (
    promo_apply,
    session_await_promo,
    session_clear_promo,
    session_for,
    session_update,
)
from users.models import LANGUAGE_CODES, User
from users.selectors import language_for_telegram_id
from users.services import user_get_or_create_from_telegram, user_mark_reachable, user_set_language

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Say:
    """A text message (HTML). For a button press the first Say edits the message
    the button belongs to; `fresh` ones (confirmations) are always new messages."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    fresh: bool = False


@dataclass(frozen=True)
class SendInvoice:
    params: InvoiceParams


@dataclass(frozen=True)
class SendInvoiceLink:
    """A Star subscription's invoice (createInvoiceLink with its period): a new message
    with `text` and a button that opens Telegram's payment form."""

    params: InvoiceParams
    text: str
    pay_label: str  # the button's texts, in the buyer's language
    back_label: str


@dataclass(frozen=True)
class SendPhoto:
    photo: bytes  # PNG
    caption: str = ""


@dataclass(frozen=True)
class Retire:
    """The pressed message's buttons are spent (a purchase was made from it): remove them."""


Reply = Say | SendInvoice | SendInvoiceLink | SendPhoto | Retire


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


def screen(fn: Callable[..., list[Reply]] | None = None, *, records_money: bool = False):
    """Resolve the buyer, speak their language, and turn a service's refusal
    (ApplicationError) into its message instead of an error.

    A buyer deactivated in the admin gets a refusal instead of the screen, except
    on screens that record money Telegram already moved (`records_money`: a
    renewal Telegram charged, a refund it made): those are booked all the same."""

    def decorate(fn: Callable[..., list[Reply]]) -> Callable[..., list[Reply]]:
        @functools.wraps(fn)
        def wrapper(profile: Profile, *args, **kwargs) -> list[Reply]:
            user = user_get_or_create_from_telegram(
                telegram_id=profile.telegram_id,
                username=profile.username,
                first_name=profile.first_name,
                last_name=profile.last_name,
                language_code=profile.language_code,
            )
            # They write to the bot, so they no longer block it: broadcasts and reminders reach them again.
            user_mark_reachable(user=user)
            with translation.override(user.language):
                if not user.is_active and not records_money:
                    return [Say(texts.account_deactivated())]
                try:
                    return fn(user, *args, **kwargs)
                except ApplicationError as exc:
                    return [Say(escape(str(exc.message)), keyboards.back_to_menu())]

        return wrapper

    return decorate(fn) if fn is not None else decorate


# --- Menu ---------------------------------------------------------------------


def trial_offer(user: User) -> int:
    """The trial's days when this buyer may start it (the button shows), else 0."""
    return trial_days() if trial_refusal(user=user) is None else 0


def _main_menu(user: User, *, note: str = "", text: str = "") -> Say:
    return Say(texts.with_note(note, text or texts.main_menu()), keyboards.main_menu(trial_days=trial_offer(user)))


def _deep_link_note(user: User, argument: str) -> str:
    """What a /start payload did (campaigns.links): the campaign is recorded silently; a promo
    code says what it gives, an invitation says welcome."""
    link = start_link_parse(argument)
    if link.campaign:
        campaign_attribute(user=user, slug=link.campaign)
    notes = []
    if link.promo:
        try:
            notes.append(texts.promo_applied(promo_apply(user=user, code=link.promo)))
        except PromoInvalid as exc:
            notes.append(escape(str(exc.message)))
    if link.referral:
        outcome = referral_attach(invited=user, code=link.referral)
        referral_notes = {
            Attach.ATTACHED: texts.referral_welcome,
            Attach.OWN_LINK: texts.referral_own_link,
            Attach.UNKNOWN: texts.referral_unknown,
        }
        if outcome in referral_notes:
            notes.append(referral_notes[outcome]())
    return "\n".join(notes)


@screen
def start(user: User, argument: str = "") -> list[Reply]:
    note = _deep_link_note(user, argument)
    return [_main_menu(user, note=note, text=texts.welcome(user.first_name))]


@screen
def menu(user: User) -> list[Reply]:
    return [_main_menu(user)]


@screen
def language_choice(user: User) -> list[Reply]:
    return [Say(texts.language_prompt(), keyboards.language(user.language))]


@screen
def language_set(user: User, language: str) -> list[Reply]:
    if language not in LANGUAGE_CODES:
        return [_main_menu(user)]
    user_set_language(user=user, language=language)
    with translation.override(language):
        return [_main_menu(user, note=texts.language_set())]


@screen
def help_screen(user: User) -> list[Reply]:
    return [Say(texts.help_text(), keyboards.back_to_menu())]


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


def savings_percent(offers: list[Offer]) -> dict[str, int]:
    """What each longer tariff saves against the 1-month tariff's price per month
    (whole percent, rounded half up): 250 for 3 months against 100 a month is 17."""
    monthly = next(
        (offer.tariff.price_stars for offer in offers if offer.tariff.months == 1 and not offer.tariff.renews_monthly),
        None,
    )
    if not monthly:
        return {}
    savings = {}
    for offer in offers:
        if offer.tariff.renews_monthly:
            continue
        full = monthly * offer.tariff.months
        if offer.tariff.months > 1 and offer.tariff.price_stars < full:
            savings[offer.tariff.code] = (200 * (full - offer.tariff.price_stars) + full) // (2 * full)
    return {code: value for code, value in savings.items() if value > 0}


def _tariff_list(user: User, *, note: str = "") -> Say:
    promo_code = session_for(user=user).promo_code
    offers = offers_for(user=user, promo_code=promo_code)
    if not offers:
        return Say(texts.with_note(note, texts.no_tariffs()), keyboards.back_to_menu())
    savings = savings_percent(offers)
    lines = [
        texts.tariff_list(promo_code=promo_code),
        "",
        *(texts.tariff_line(offer.quote, savings=savings.get(offer.tariff.code, 0)) for offer in offers),
    ]
    return Say(texts.with_note(note, "\n".join(lines)), keyboards.tariffs(offers, savings))


def chosen(argument: str) -> tuple[str, Selection]:
    """A button's "<tariff code>[:<selection>]"."""
    code, _, selection = argument.partition(":")
    return code, Selection.decode(selection)


def _summary(user: User, tariff_code: str, *, note: str = "", selection: Selection | None = None) -> Say:
    """The plan builder's next step (devices, traffic, location: only those with a choice), or
    the price of the configuration chosen with the Pay buttons."""
    tariff = tariff_for_sale(tariff=tariff_code)
    selection = selection or Selection()
    options = plan_options(tariff)
    kind = next_choice(options, selection)
    if kind is not None:
        session_update(user=user, tariff_code=tariff.code, selection=selection.encode())
        text = texts.builder_step(kind, tariff=tariff)
        prices = option_prices(tariff, options)
        return Say(texts.with_note(note, text), keyboards.builder_step(tariff.code, kind, options, prices, selection))
    configuration = configuration_for(tariff=tariff, options=options, **selection.as_kwargs())
    session = session_update(user=user, tariff_code=tariff.code, selection=selection.encode())
    offer = offer_for(user=user, tariff=tariff, promo_code=session.promo_code, configuration=configuration)
    text = texts.summary(offer.quote, promo_note=offer.promo_refused)
    if options.has_any_choice:
        text += "\n\n" + texts.configuration_lines(offer.quote.snapshot)
    markup = keyboards.summary(offer, balance=user.stars_balance, selection=selection.encode())
    return Say(texts.with_note(note, text), markup)


@screen
def buy(user: User) -> list[Reply]:
    return [_tariff_list(user)]


@screen
def tariff(user: User, argument: str) -> list[Reply]:
    tariff_code, selection = chosen(argument)
    return [_summary(user, tariff_code, selection=selection)]


@screen
def promo_prompt(user: User, tariff_code: str = "") -> list[Reply]:
    session_await_promo(user=user, tariff_code=tariff_code)
    return [Say(texts.promo_prompt(), keyboards.cancel())]


@screen
def promo_cancel(user: User) -> list[Reply]:
    session = session_update(user=user, awaiting=BotSession.Awaiting.NOTHING)
    note = texts.promo_cancelled()
    if session.tariff_code:
        try:
            return [_summary(user, session.tariff_code, note=note, selection=Selection.decode(session.selection))]
        except ApplicationError:
            pass  # the tariff went off sale meanwhile: the menu instead
    return [_main_menu(user, note=note)]


@screen
def text_message(user: User, text: str) -> list[Reply]:
    session = session_for(user=user)
    if session.awaiting != BotSession.Awaiting.PROMO:
        return [Say(texts.help_text(), keyboards.main_menu(trial_days=trial_offer(user)))]
    try:
        promo = promo_apply(user=user, code=text, tariff_code=session.tariff_code)
    except PromoInvalid as exc:
        return [Say(texts.promo_refused(str(exc.message)), keyboards.cancel())]
    note = texts.promo_applied(promo)
    if session.tariff_code:
        return [_summary(user, session.tariff_code, note=note, selection=Selection.decode(session.selection))]
    return [_tariff_list(user, note=note)]


def _connect_notice(
    user: User, subscription: Subscription, *, header: str = "", platform: str = "", expiry=True, apps=None
) -> messages.Notice:
    return messages.connect_screen(
        language=user.language,
        url=subscription.subscription_url,
        apps=client_apps() if apps is None else apps,
        expires_at=subscription.expires_at if expiry else None,
        platform=platform,
        header=header,
    )


def _granted(user: User, *, header: str, resend: bool = False, fresh: bool = True) -> Say:
    """What a purchase (or the trial) gave, with the subscription link exactly when
    this reply takes the purchase's one link message: the link is known and no
    other message took it (else the worker sends it, once, or already did). A
    resend after a failed send carries it again only if the failed one had taken it."""
    subscription = link_claim_for_reply(user=user)
    if subscription is None:
        subscription = Subscription.objects.filter(user=user).first()
        replied = subscription is not None and subscription.link_state == Subscription.LinkState.REPLIED
        if not (resend and replied):
            if not provisioning_enabled():
                link = texts.LINK_NONE
            elif subscription is not None and subscription.link_state == Subscription.LinkState.SENT:
                link = texts.LINK_SENT
            else:
                link = texts.LINK_COMING
            expires_at = subscription.expires_at if subscription is not None else None
            text = header + "\n\n" + texts.link_note(link, expires_at=expires_at)
            return Say(text, keyboards.after_purchase(), fresh=fresh)
    notice = _connect_notice(user, subscription, header=header)
    return Say(notice.text, keyboards.connect(notice.buttons), fresh=fresh)


def _paid(user: User, payment: Payment, *, resend: bool = False) -> list[Reply]:
    """The payment confirmation: a new message, carrying the connect screen when it
    takes the purchase's link message."""
    if payment.kind == Payment.Kind.TOPUP:
        user.refresh_from_db(fields=["stars_balance"])
        text = texts.topped_up(amount=payment.amount, balance=user.stars_balance)
        return [Say(text, keyboards.main_menu(trial_days=trial_offer(user)), fresh=True)]
    if payment.purchase_type == Payment.RENEWAL:  # the buyer has the link: what changed, nothing more
        star_subscription = payment.star_subscription
        subscription = Subscription.objects.filter(user=user).first()
        text = texts.renewed(
            days_added=payment.days_granted,
            expires_at=subscription.expires_at if subscription else None,
            next_charge=star_subscription.current_period_end
            if star_subscription and star_subscription.renews
            else None,
        )
        return [Say(text, keyboards.after_purchase(), fresh=True)]
    session_clear_promo(user=user)
    header = texts.paid_header()
    if payment.star_subscription_id:
        star_subscription = payment.star_subscription
        header += "\n" + texts.auto_renewal_started(
            amount=star_subscription.amount, next_charge=star_subscription.current_period_end
        )
    return [_granted(user, header=header, resend=resend)]


@screen
def pay(user: User, argument: str) -> list[Reply]:
    tariff_code, selection = chosen(argument)
    promo_code = session_for(user=user).promo_code
    try:
        result = purchase_create_invoice(
            user=user, tariff=tariff_code, promo_code=promo_code or None, source="bot", selection=selection
        )
    except PromoInvalid as exc:
        # The promo stopped working since it was applied: say why, show the full price.
        session_update(user=user, promo_code="")
        return [_summary(user, tariff_code, note=escape(str(exc.message)), selection=selection)]
    if result.payment.status == Payment.Status.SUCCEEDED:  # a 100 % promo: nothing to pay
        return [Retire(), *_paid(user, result.payment)]
    params = invoice_params(payment=result.payment)
    if params.subscription_period:
        return [
            SendInvoiceLink(
                params=params,
                text=texts.subscribe_link(params.amount),
                pay_label=texts.button_subscribe(params.amount),
                back_label=texts.button_back(),
            )
        ]
    return [SendInvoice(params)]


@screen
def pay_from_balance(user: User, argument: str) -> list[Reply]:
    tariff_code, selection = chosen(argument)
    promo_code = session_for(user=user).promo_code
    payment = purchase_pay_from_balance(
        user=user, tariff=tariff_code, promo_code=promo_code or None, source="bot", selection=selection
    )
    return [Retire(), *_paid(user, payment)]


@screen
def trial(user: User) -> list[Reply]:
    payment = trial_start(user=user, source="bot")
    return [_granted(user, header=texts.trial_header(payment.days), fresh=False)]


# --- My subscription and connecting ------------------------------------------------------


def _subscription_screen(user: User, *, note: str = "") -> Say:
    view = subscription_view(user=user)
    status = texts.subscription_status(view)
    star_subscription = star_subscription_live_for(user=user)
    auto_renewal = star_subscription.renews if star_subscription is not None else None
    if star_subscription is not None:
        status += "\n" + texts.auto_renewal_status(
            renews=star_subscription.renews,
            amount=star_subscription.amount,
            period_end=star_subscription.current_period_end,
        )
    if view.is_active:
        # Read from the panel (cached for a minute, bounded): never on a payment path.
        traffic = traffic_for(user=user)
        if traffic is not None:
            status += "\n" + texts.traffic_line(traffic)
    subscription = Subscription.objects.filter(user=user).first() if view.expires_at else None
    location = (subscription.configuration or {}).get("location") if subscription else None
    if view.is_active and isinstance(location, dict):
        status += "\n" + texts.location_line(location)
    status = texts.with_note(note, status)
    if view.expires_at is None:
        return Say(status, keyboards.subscription(has_one=False, trial_days=trial_offer(user)))
    # A free change to another location of the plan: offered when the plan has more than one.
    movable = view.is_active and len(locations_for(subscription=subscription)) > 1
    if view.is_active and view.subscription_url:
        notice = _connect_notice(user, subscription, header=status, expiry=False)
        markup = keyboards.connect(
            notice.buttons, renew=True, auto_renewal=auto_renewal, devices=True, change_location=movable
        )
        return Say(notice.text, markup)
    if view.is_active:
        text = texts.subscription_link_coming() if provisioning_enabled() else texts.no_links()
    else:
        text = texts.renew_hint()
    markup = keyboards.subscription(has_one=True, auto_renewal=auto_renewal, change_location=movable)
    return Say(status + "\n\n" + text, markup)


def _connectable(user: User) -> Subscription | None:
    subscription = Subscription.objects.filter(user=user).first()
    return (
        subscription if subscription is not None and subscription.is_active and subscription.subscription_url else None
    )


@screen
def subscription(user: User) -> list[Reply]:
    return [_subscription_screen(user)]


@screen
def location_choice(user: User) -> list[Reply]:
    subscription = Subscription.objects.filter(user=user).first()
    locations = locations_for(subscription=subscription) if subscription and subscription.is_active else []
    if len(locations) < 2:
        return [_subscription_screen(user)]
    return [Say(texts.location_prompt(), keyboards.locations(locations, current=current_location_id(subscription)))]


@screen
def location_set(user: User, location_id: str) -> list[Reply]:
    if not location_id.isdigit():
        return [_subscription_screen(user)]
    location = subscription_location_change(user=user, location_id=int(location_id))
    return [_subscription_screen(user, note=texts.location_changed(location.title_for(user.language)))]


@screen
def auto_renewal_ask(user: User) -> list[Reply]:
    star_subscription = star_subscription_live_for(user=user)
    if star_subscription is None or not star_subscription.renews:
        return [_subscription_screen(user)]
    text = texts.auto_renewal_cancel_question(period_end=star_subscription.current_period_end)
    return [Say(text, keyboards.auto_renewal_cancel_confirm())]


@screen
def auto_renewal_cancel(user: User) -> list[Reply]:
    """Telegram is asked first (editUserStarSubscription); the screen says what it did."""
    star_subscription = star_subscription_cancel(user=user)
    return [
        _subscription_screen(user, note=texts.auto_renewal_canceled(period_end=star_subscription.current_period_end))
    ]


@screen
def auto_renewal_resume(user: User) -> list[Reply]:
    star_subscription = star_subscription_resume(user=user)
    return [
        _subscription_screen(user, note=texts.auto_renewal_resumed(period_end=star_subscription.current_period_end))
    ]


@screen
def connect(user: User, platform: str = "") -> list[Reply]:
    subscription = _connectable(user)
    if subscription is None:
        return [_subscription_screen(user)]
    apps = client_apps()
    notice = _connect_notice(user, subscription, platform=platform, apps=apps)
    if platform in apps:  # one platform's apps: its own Back leads to the connect screen
        return [Say(notice.text, keyboards.from_notice(notice.buttons))]
    return [Say(notice.text, keyboards.connect(notice.buttons, renew=True))]


@screen
def qr_code(user: User) -> list[Reply]:
    """The link as a QR code: an extra photo (the link's text stays in its one message)."""
    subscription = _connectable(user)
    if subscription is None:
        return [_subscription_screen(user)]
    return [SendPhoto(photo=qr.png(subscription.subscription_url), caption=messages.qr_caption(language=user.language))]


# --- Devices -------------------------------------------------------------------------------


def _devices_screen(listing: DeviceList, *, note: str = "") -> Say:
    return Say(texts.with_note(note, texts.devices_screen(listing)), keyboards.devices(listing))


@screen
def devices(user: User) -> list[Reply]:
    return [_devices_screen(devices_for(user=user))]


@screen
def device_remove_screen(user: User, device_id: str) -> list[Reply]:
    removal = device_remove(user=user, device_id=device_id)
    if removal.removed:
        note = texts.device_removed()
    elif removal.devices.state == device_states.OK:
        note = texts.device_already_gone()
    elif removal.devices.state == device_states.STALE:
        note = texts.device_not_removed()
    else:
        note = ""  # no panel, nothing provisioned, or nothing known: the screen says which
    return [_devices_screen(removal.devices, note=note)]


# --- Balance -------------------------------------------------------------------------------


@screen
def balance(user: User) -> list[Reply]:
    return [Say(texts.balance(user.stars_balance), keyboards.balance(list(settings.BALANCE_TOPUP_AMOUNTS)))]


@screen
def topup(user: User, amount: int) -> list[Reply]:
    result = topup_create_invoice(user=user, amount=amount, source="bot")
    return [SendInvoice(invoice_params(payment=result.payment))]


# --- Referrals -------------------------------------------------------------------------------


@screen
def invite(user: User, bot_username: str) -> list[Reply]:
    link = referral_link(bot_username=bot_username, code=referral_code_for(user=user))
    text = texts.referral_screen(link=link, stats=referral_stats(user=user), bonus_days=referral_bonus_days())
    return [Say(text, keyboards.invite(link=link))]


# --- Payments ---------------------------------------------------------------------


def precheckout(
    *, language_code: str | None, payload: str, from_user_id: int, total_amount: int, currency: str
) -> PrecheckoutResult:
    """A refusal reads in the buyer's language. An accepted query says nothing, so
    the language is looked up only for a refusal: the query is validated again in
    it (the second answer, the fresher one, is the one given)."""
    result = precheckout_validate(
        payload=payload, from_user_id=from_user_id, total_amount=total_amount, currency=currency
    )
    if result.ok:
        return result
    language = language_for_telegram_id(telegram_id=from_user_id, language_code=language_code)
    with translation.override(language):
        return precheckout_validate(
            payload=payload, from_user_id=from_user_id, total_amount=total_amount, currency=currency
        )


@screen(records_money=True)
def payment_received(user: User, *, charge: Charge, is_retry: bool = False) -> list[Reply]:
    """One grant, one confirmation: a repeated delivery says nothing, unless it
    is this very update run again after its confirmation failed to send. A Star
    subscription's renewal (Telegram charged it by itself) is confirmed the same way."""
    result = purchase_complete(charge)
    if result.outcome == "needs_review":
        return [Say(texts.payment_needs_review(), fresh=True)]
    resend = is_retry and result.payment.status == Payment.Status.SUCCEEDED and result.payment.user_id == user.pk
    if result.created or resend:
        return _paid(user, result.payment, resend=resend and not result.created)
    return []


@screen(records_money=True)
def payment_refunded(user: User, *, charge_id: str, amount: int) -> list[Reply]:
    """Telegram has returned the Stars: booked (a spent top-up leaves a recorded debt),
    or kept until the payment it refunds is recorded."""
    result = refund_from_telegram(user=user, charge_id=charge_id, amount=amount)
    if result.pending:
        logger.warning("refunded_payment for a charge not recorded yet: %s (user %s)", charge_id, user.telegram_id)
    return [Say(texts.refunded(amount=amount), fresh=True)] if result.created else []


# --- The channel gate ---------------------------------------------------------------


def _gate_screen(*, join_url: str, note: str = "") -> Say:
    text = texts.channel_gate_all() if settings.REQUIRED_CHANNEL_SCOPE == "all" else texts.channel_gate_trial()
    return Say(texts.with_note(note, text), keyboards.channel_gate(join_url=join_url))


def _passes_gate_anyway(user: User, target: Callable) -> bool:
    """Who the gate never stops: a buyer who has paid or has an active subscription (their
    screens, connecting and renewing above all), and, before the trial, someone who may not take it
    anyway (the trial screen says why)."""
    if target is trial and trial_refusal(user=user) is not None:
        return True
    subscription = Subscription.objects.filter(user=user).only("expires_at", "status").first()
    return (subscription is not None and subscription.is_active) or Payment.objects.filter(
        user=user, first_paid=True
    ).exists()


@screen
def behind_channel_gate(user: User, target: Callable, join_url: str, *args, **kwargs) -> list[Reply]:
    """`target` for someone the bot did not find in the required channel: the gate instead, unless
    they pass it anyway. A /start still records its campaign, promo and invitation."""
    if _passes_gate_anyway(user, target):
        return target.__wrapped__(user, *args, **kwargs)
    note = _deep_link_note(user, args[0] if args else "") if target is start else ""
    return [_gate_screen(join_url=join_url, note=note)]


@screen
def channel_checked(user: User, *, joined: bool, join_url: str) -> list[Reply]:
    """After "✅ I've joined": the menu (with the trial) when they are in, else the gate again."""
    if joined:
        return [_main_menu(user, note=texts.channel_joined())]
    return [_gate_screen(join_url=join_url, note=texts.channel_not_joined())]


# --- Errors -------------------------------------------------------------------------


def _in_language_of(telegram_id: int | None, language_code: str | None, fn: Callable[[], str]) -> str:
    if telegram_id is None:
        language = texts.language_for(language_code)
    else:
        language = language_for_telegram_id(telegram_id=telegram_id, language_code=language_code)
    with translation.override(language):
        return fn()


def apology(language_code: str | None, telegram_id: int | None = None) -> str:
    return _in_language_of(telegram_id, language_code, texts.apology)


def slow_down(language_code: str | None, telegram_id: int | None = None) -> str:
    return _in_language_of(telegram_id, language_code, texts.slow_down)
