"""Inline keyboards and their callback data (short: Telegram allows 64 bytes)."""

from __future__ import annotations

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup

from promos.selectors import Offer
from telegram_bot import texts

MENU = "menu"
BUY = "buy"
SUBSCRIPTION = "sub"
BALANCE = "bal"
PROMO = "promo"
HELP = "help"
CANCEL = "cancel"
TARIFF = "t:"  # t:<tariff code> — the summary
PAY = "pay:"  # pay:<tariff code> — send the invoice
PAY_BALANCE = "bpay:"  # bpay:<tariff code>
PROMO_FOR = "pr:"  # pr:<tariff code> — enter a promo code for this tariff
TOPUP = "top:"  # top:<amount>


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(texts.button_buy(), BUY)],
            [button(texts.button_subscription(), SUBSCRIPTION), button(texts.button_balance(), BALANCE)],
            [button(texts.button_promo(), PROMO), button(texts.button_help(), HELP)],
        ]
    )


def tariffs(offers: list[Offer]) -> InlineKeyboardMarkup:
    rows = [[button(texts.button_tariff(offer.quote), TARIFF + offer.tariff.code)] for offer in offers]
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def summary(offer: Offer, *, balance: int) -> InlineKeyboardMarkup:
    code = offer.tariff.code
    rows = [[button(texts.button_pay(offer.quote.amount), PAY + code)]]
    if offer.quote.amount and balance >= offer.quote.amount:
        rows.append([button(texts.button_pay_from_balance(offer.quote.amount), PAY_BALANCE + code)])
    rows.append([button(texts.button_enter_promo(), PROMO_FOR + code)])
    rows.append([button(texts.button_back(), BUY)])
    return InlineKeyboardMarkup(rows)


def subscription(*, can_buy: bool) -> InlineKeyboardMarkup:
    rows = [[button(texts.button_renew(), BUY)]] if can_buy else []
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def balance(amounts: list[int]) -> InlineKeyboardMarkup:
    rows = [[button(texts.button_topup(amount), TOPUP + str(amount))] for amount in amounts]
    rows.append([button(texts.button_buy(), BUY)])
    rows.append([button(texts.button_back(), MENU)])
    return InlineKeyboardMarkup(rows)


def cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(texts.button_cancel(), CANCEL)]])


def promo_reply() -> ForceReply:
    return ForceReply(selective=True, input_field_placeholder="PROMO10")


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(texts.button_back(), MENU)]])
