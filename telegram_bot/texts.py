"""Everything the bot says, in English msgids translated by Django i18n.

Call these inside `translation.override(language)`; Russian is the default.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext as _

from promos.services import Quote
from subscriptions.models import Subscription
from subscriptions.selectors import SubscriptionView


def language_for(language_code: str | None) -> str:
    """Same rule as User.language: English when Telegram says so, else Russian."""
    return "en" if (language_code or "").lower().startswith("en") else "ru"


def stars(amount: int) -> str:
    return f"{amount} ⭐"


def date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


# --- Buttons ------------------------------------------------------------------


def button_buy() -> str:
    return _("🛒 Buy")


def button_subscription() -> str:
    return _("📅 My subscription")


def button_balance() -> str:
    return _("💰 Balance")


def button_promo() -> str:
    return _("🎟 Promo code")


def button_help() -> str:
    return _("❓ Help")


def button_back() -> str:
    return _("« Back")


def button_cancel() -> str:
    return _("Cancel")


def button_pay(amount: int) -> str:
    return _("Pay %(amount)s") % {"amount": stars(amount)}


def button_pay_from_balance(amount: int) -> str:
    return _("Pay %(amount)s from balance") % {"amount": stars(amount)}


def button_enter_promo() -> str:
    return _("🎟 Enter promo code")


def button_renew() -> str:
    return _("Renew")


def button_topup(amount: int) -> str:
    return _("Top up %(amount)s") % {"amount": stars(amount)}


def button_tariff(quote: Quote) -> str:
    label = f"{quote.tariff.title} — {stars(quote.amount)}"
    if quote.discount:
        label += f" (−{quote.discount})"
    return label


# --- Messages -------------------------------------------------------------------


def welcome() -> str:
    return _("Hello! Here you can buy a VPN subscription with Telegram Stars.\nChoose an action:")


def main_menu() -> str:
    return _("Main menu:")


def promo_applied(code: str) -> str:
    return _("Promo code %(code)s applied.") % {"code": code}


def promo_refused(reason: str) -> str:
    return _("%(reason)s Send another code or press Cancel.") % {"reason": reason}


def promo_prompt() -> str:
    return _("Send the promo code in reply to this message.")


def promo_cancelled() -> str:
    return _("Promo code entry cancelled.")


def tariff_list(*, promo_code: str) -> str:
    text = _("Choose a tariff:")
    if promo_code:
        text += "\n" + _("Promo code %(code)s is applied.") % {"code": promo_code}
    return text


def tariff_line(quote: Quote) -> str:
    months = max(quote.tariff.months, 1)
    line = _("%(title)s: %(amount)s (%(per_month)s per month)") % {
        "title": quote.tariff.title,
        "amount": stars(quote.amount),
        "per_month": stars(quote.amount // months),
    }
    if quote.discount:
        line += ", " + _("discount %(discount)s") % {"discount": stars(quote.discount)}
    if quote.bonus_days:
        line += ", " + _("+%(bonus)s bonus days") % {"bonus": quote.bonus_days}
    return line


def no_tariffs() -> str:
    return _("Nothing is on sale right now. Please come back later.")


def summary(quote: Quote, *, promo_note: str = "") -> str:
    lines = [
        _("Tariff: %(title)s") % {"title": quote.tariff.title},
        _("Price: %(price)s") % {"price": stars(quote.base_price)},
    ]
    if quote.discount:
        lines.append(_("Discount: %(discount)s") % {"discount": stars(quote.discount)})
    if quote.bonus_days:
        lines.append(_("Bonus days: %(bonus)s") % {"bonus": quote.bonus_days})
    lines.append(_("Total: %(amount)s for %(days)s days") % {"amount": stars(quote.amount), "days": quote.total_days})
    if promo_note:
        lines.append(promo_note)
    return "\n".join(lines)


# What the payment confirmation says about the subscription link.
LINK_HERE = "here"  # it carries the link
LINK_COMING = "coming"  # provisioning is under way: the link follows in its own message
LINK_SENT = "sent"  # the worker sent it already
LINK_NONE = "none"  # no provisioning backend: there is no link


def paid(*, subscription: Subscription | None, link: str) -> str:
    text = _("Payment received, thank you!")
    if subscription is not None and subscription.expires_at:
        text += "\n" + _("Your subscription is active until %(expires)s.") % {"expires": date(subscription.expires_at)}
    if link == LINK_HERE and subscription is not None:
        text += "\n" + _("Your subscription link: %(url)s") % {"url": subscription.subscription_url}
    elif link == LINK_SENT:
        text += "\n" + _("We have sent you the subscription link in a separate message.")
    elif link == LINK_NONE:
        text += "\n" + _("This shop does not issue connection links automatically; support will help: %(contact)s") % {
            "contact": settings.SUPPORT_CONTACT
        }
    else:
        text += "\n" + _("Your subscription link is being prepared; it will arrive in a separate message.")
    return text


def topped_up(*, amount: int, balance: int) -> str:
    return _("Your balance has been topped up by %(amount)s. Balance: %(balance)s.") % {
        "amount": stars(amount),
        "balance": stars(balance),
    }


def payment_needs_review() -> str:
    return _("We received your payment, but it needs a manual check. Support will contact you: %(contact)s") % {
        "contact": settings.SUPPORT_CONTACT
    }


def refunded(*, amount: int) -> str:
    return _("A refund of %(amount)s has been processed.") % {"amount": stars(amount)}


def subscription_status(subscription: SubscriptionView) -> str:
    if subscription.expires_at is None:
        return _("You have no subscription yet.")
    if subscription.status == "disabled":
        status = _("disabled")
    elif subscription.is_active:
        status = _("active")
    else:
        status = _("expired")
    lines = [
        _("Status: %(status)s") % {"status": status},
        _("Active until: %(expires)s") % {"expires": date(subscription.expires_at)},
        _("Days left: %(days)s") % {"days": subscription.days_left},
    ]
    if subscription.subscription_url:
        lines.append(_("Your subscription link: %(url)s") % {"url": subscription.subscription_url})
    elif subscription.is_active:
        lines.append(_("Your subscription link is being prepared; we will send it shortly."))
    return "\n".join(lines)


def balance(amount: int) -> str:
    return _("Your balance: %(balance)s.\nTop it up with Stars and pay for tariffs from it.") % {
        "balance": stars(amount)
    }


def help_text() -> str:
    return _(
        "/start — main menu\n"
        "/buy — buy a subscription\n"
        "/paysupport — help with payments\n"
        "/terms — terms of service\n"
        "/privacy — privacy policy\n"
        "Support: %(contact)s"
    ) % {"contact": settings.SUPPORT_CONTACT}


def paysupport() -> str:
    return settings.PAYSUPPORT_TEXT or _(
        "Payment problems? Write to %(contact)s with the date and amount of the payment. "
        "Refunds are made in Telegram Stars."
    ) % {"contact": settings.SUPPORT_CONTACT}


def terms() -> str:
    return settings.TERMS_TEXT or _(
        "Terms of service: you buy access to a VPN service for the paid period. Payments are made in Telegram Stars. "
        "Unused paid periods can be refunded on request to %(contact)s."
    ) % {"contact": settings.SUPPORT_CONTACT}


def privacy() -> str:
    return settings.PRIVACY_TEXT or _(
        "Privacy policy: we store your Telegram id, name, language and payment history only to provide the service. "
        "We do not log your traffic. Questions: %(contact)s"
    ) % {"contact": settings.SUPPORT_CONTACT}


def apology() -> str:
    return _("Sorry, something went wrong. Please try again in a minute.")


def slow_down() -> str:
    return _("Too many messages. Please slow down and try again in a few seconds.")


def commands() -> list[tuple[str, str]]:
    """The bot's command menu (setMyCommands)."""
    return [
        ("start", _("Main menu")),
        ("buy", _("Buy a subscription")),
        ("paysupport", _("Help with payments")),
        ("terms", _("Terms of service")),
        ("privacy", _("Privacy policy")),
        ("help", _("Help")),
    ]
