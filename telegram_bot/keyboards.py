"""Inline keyboards and their callback data (short: Telegram allows 64 bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from integrations.telegram import Button
from notifications import messages
from promos.selectors import Offer
from subscriptions.devices import DeviceList
from subscriptions.models import Location
from subscriptions.pricing import PlanOptions, Selection
from telegram_bot import texts

MENU = messages.MENU_CALLBACK
BUY = messages.BUY_CALLBACK
SUBSCRIPTION = messages.SUBSCRIPTION_CALLBACK
CONNECT = messages.CONNECT_CALLBACK
APPS = messages.APPS_CALLBACK  # apps:<platform>
QR = messages.QR_CALLBACK
BALANCE = "bal"
PROMO = "promo"
HELP = "help"
CANCEL = "cancel"
TRIAL = "trial"
INVITE = "ref"
LANGUAGE = "lang"
SET_LANGUAGE = "lang:"  # lang:<ru|en>
TARIFF = "t:"  # t:<tariff code>[:<options chosen>] — the plan builder's next step, or the summary
PAY = "pay:"  # pay:<tariff code>[:<options chosen>] — send the invoice
PAY_BALANCE = "bpay:"  # bpay:<tariff code>[:<options chosen>]
LOCATIONS = "locs"  # the locations the buyer may move to
SET_LOCATION = "loc:"  # loc:<location id>
PROMO_FOR = "pr:"  # pr:<tariff code> — enter a promo code for this tariff
TOPUP = "top:"  # top:<amount>
AUTO_RENEWAL_ASK = "ar:ask"  # "cancel auto-renewal?"
AUTO_RENEWAL_CANCEL = "ar:off"
AUTO_RENEWAL_RESUME = "ar:on"
DEVICES = "dev"
CHANNEL_CHECK = "gate:check"  # "✅ I've joined" under the channel gate
DEVICE_REMOVE = "dev:rm:"  # dev:rm:<device id> (16 hex characters, from the hwid)

LANGUAGE_BUTTONS = (("ru", "🇷🇺 Русский"), ("en", "🇬🇧 English"))


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def from_buttons(rows: Sequence[Sequence[Button]]) -> list[list[InlineKeyboardButton]]:
    """Rows of the notifications' plain buttons (a Notice) as inline keyboard rows."""
    return [
        [
            InlineKeyboardButton(text=b.text, url=b.url) if b.url else button(b.text, b.callback_data or MENU)
            for b in row
        ]
        for row in rows
    ]


def main_menu(*, trial_days: int = 0) -> InlineKeyboardMarkup:
    """`trial_days` > 0 only for a buyer who may still start the free trial."""
    rows = [[button(texts.button_trial(trial_days), TRIAL)]] if trial_days else []
    rows += [
        [button(texts.button_buy(), BUY)],
        [button(texts.button_subscription(), SUBSCRIPTION), button(texts.button_balance(), BALANCE)],
        [button(texts.button_promo(), PROMO), button(texts.button_invite(), INVITE)],
        [button(texts.button_language(), LANGUAGE), button(texts.button_help(), HELP)],
    ]
    return InlineKeyboardMarkup(rows)


def language(current: str) -> InlineKeyboardMarkup:
    choices = [
        button(("✓ " if code == current else "") + label, SET_LANGUAGE + code) for code, label in LANGUAGE_BUTTONS
    ]
    return InlineKeyboardMarkup([choices, [button(texts.button_back(), MENU)]])


def tariffs(offers: list[Offer], savings: dict[str, int]) -> InlineKeyboardMarkup:
    rows = [
        [
            button(
                texts.button_tariff(offer.quote, savings=savings.get(offer.tariff.code, 0)), TARIFF + offer.tariff.code
            )
        ]
        for offer in offers
    ]
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def builder_step(
    code: str, kind: str, options: PlanOptions, prices: dict[tuple[str, int], int], selection: Selection
) -> InlineKeyboardMarkup:
    """One button per option of this kind (with what it adds to the price), then Back."""
    rows = [
        [
            button(
                texts.button_option(option, extra=prices.get((kind, option.pk), 0)),
                f"{TARIFF}{code}:{selection.with_choice(kind, option.pk).encode()}",
            )
        ]
        for option in options.of(kind)
    ]
    rows.append([button(texts.button_back(), BUY)])
    return InlineKeyboardMarkup(rows)


def summary(offer: Offer, *, balance: int, selection: str = "") -> InlineKeyboardMarkup:
    code = offer.tariff.code + (f":{selection}" if selection and selection != Selection().encode() else "")
    if offer.tariff.renews_monthly:  # Telegram charges it every month: Stars only, never the balance
        rows = [[button(texts.button_subscribe(offer.quote.amount), PAY + code)]]
    else:
        rows = [[button(texts.button_pay(offer.quote.amount), PAY + code)]]
    if offer.quote.amount and balance >= offer.quote.amount and not offer.tariff.renews_monthly:
        rows.append([button(texts.button_pay_from_balance(offer.quote.amount), PAY_BALANCE + code)])
    rows.append([button(texts.button_enter_promo(), PROMO_FOR + offer.tariff.code)])
    rows.append([button(texts.button_back(), BUY)])
    return InlineKeyboardMarkup(rows)


def from_notice(notice_rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(from_buttons(notice_rows))


def auto_renewal_row(renews: bool | None) -> list[list[InlineKeyboardButton]]:
    """Cancel (when it renews) or Resume (when canceled) a Star subscription; nothing without one."""
    if renews is None:
        return []
    if renews:
        return [[button(texts.button_auto_renewal_cancel(), AUTO_RENEWAL_ASK)]]
    return [[button(texts.button_auto_renewal_resume(), AUTO_RENEWAL_RESUME)]]


def location_row(change_location: bool) -> list[list[InlineKeyboardButton]]:
    return [[button(texts.button_change_location(), LOCATIONS)]] if change_location else []


def locations(options: list[Location], *, current: int | None) -> InlineKeyboardMarkup:
    language = texts.current_language()
    rows = [
        [
            button(
                ("✓ " if location.pk == current else "") + location.title_for(language), SET_LOCATION + str(location.pk)
            )
        ]
        for location in options
    ]
    rows.append([button(texts.button_back(), SUBSCRIPTION)])
    return InlineKeyboardMarkup(rows)


def connect(
    notice_rows: Sequence[Sequence[Button]],
    *,
    renew: bool = False,
    auto_renewal: bool | None = None,
    devices: bool = False,
    change_location: bool = False,
) -> InlineKeyboardMarkup:
    """The connect screen's buttons (from notifications), then Devices, the location, auto-renewal or Renew, Back."""
    rows = from_buttons(notice_rows)
    if devices:
        rows.append([button(texts.button_devices(), DEVICES)])
    rows += location_row(change_location)
    rows += auto_renewal_row(auto_renewal)
    if renew and not auto_renewal:
        rows.append([button(texts.button_renew(), BUY)])
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def subscription(
    *, has_one: bool, trial_days: int = 0, auto_renewal: bool | None = None, change_location: bool = False
) -> InlineKeyboardMarkup:
    """No connect screen to show: Devices (with a subscription), Buy (or Renew), the trial when offered,
    the location, Back."""
    rows = [[button(texts.button_trial(trial_days), TRIAL)]] if trial_days else []
    if has_one:
        rows.append([button(texts.button_devices(), DEVICES)])
    rows += location_row(change_location)
    rows += auto_renewal_row(auto_renewal)
    if not auto_renewal:
        rows.append([button(texts.button_renew() if has_one else texts.button_buy(), BUY)])
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def devices(listing: DeviceList) -> InlineKeyboardMarkup:
    """A Remove button per device (numbered as in the list), Refresh, and Back to My subscription."""
    rows = [
        [button(texts.button_remove_device(number, device), DEVICE_REMOVE + device.id)]
        for number, device in enumerate(listing.devices, start=1)
    ]
    rows.append([button(texts.button_refresh(), DEVICES)])
    rows.append([button(texts.button_back(), SUBSCRIPTION)])
    return InlineKeyboardMarkup(rows)


def balance(amounts: list[int]) -> InlineKeyboardMarkup:
    rows = [[button(texts.button_topup(amount), TOPUP + str(amount))] for amount in amounts]
    rows.append([button(texts.button_buy(), BUY)])
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def invite(*, link: str) -> InlineKeyboardMarkup:
    share = "https://t.me/share/url?" + urlencode({"url": link, "text": texts.referral_share_text()})
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text=texts.button_share(), url=share)], [button(texts.button_back(), MENU)]]
    )


def cancel(data: str = CANCEL) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(texts.button_cancel(), data)]])


def after_purchase() -> InlineKeyboardMarkup:
    """Under a confirmation that does not carry the link: where to find it, and the menu."""
    return InlineKeyboardMarkup(
        [[button(texts.button_subscription(), SUBSCRIPTION)], [button(texts.button_menu(), MENU)]]
    )


def auto_renewal_cancel_confirm() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(texts.button_auto_renewal_cancel_confirm(), AUTO_RENEWAL_CANCEL)],
            [button(texts.button_back(), SUBSCRIPTION)],
        ]
    )


def subscribe_link(*, link: str, pay_label: str, back_label: str) -> InlineKeyboardMarkup:
    """An invoice link of a Star subscription (Telegram opens its payment form), and Back."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(text=pay_label, url=link)], [button(back_label, BUY)]])


def channel_gate(*, join_url: str) -> InlineKeyboardMarkup:
    """Join the channel (when there is a link to it) and "✅ I've joined"."""
    rows = [[InlineKeyboardButton(text=texts.button_join_channel(), url=join_url)]] if join_url else []
    rows.append([button(texts.button_channel_check(), CHANNEL_CHECK)])
    return InlineKeyboardMarkup(rows)


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(texts.button_back(), MENU)]])
