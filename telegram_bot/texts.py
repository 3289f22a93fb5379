"""Everything the bot says, in English msgids translated by Django i18n.

Texts are HTML (the bot sends with parse_mode=HTML): every dynamic value is
escaped here. Call these inside `translation.override(language)`; Russian is
the default.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import formats, translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.formatting import format_date, format_number, format_stars
from promos.models import PromoCode
from promos.services import Quote
from referrals.selectors import ReferralStats
from subscriptions import devices as device_states
from subscriptions.devices import Device, DeviceList, Traffic
from subscriptions.models import Tariff, device_limit_text, traffic_limit_text
from subscriptions.pricing import DEVICES, LOCATION, TRAFFIC, snapshot_label
from subscriptions.selectors import SubscriptionView
from users.models import language_of

MINUS = "−"  # U+2212, as in "−17 %"


def language_for(language_code: str | None) -> str:
    """The language for a Telegram language_code alone (no stored choice known)."""
    return language_of(language_code=language_code)


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def stars(amount: int) -> str:
    return format_stars(amount)


def date(value: datetime) -> str:
    return format_date(value)


def days(count: int) -> str:
    return ngettext("%(count)s day", "%(count)s days", count) % {"count": format_number(count)}


def title(tariff: Tariff) -> str:
    """The tariff's title in the active language (escaped)."""
    return escape(tariff.title_for(translation.get_language() or "ru"))


def description(tariff: Tariff) -> str:
    return escape(tariff.description_for(translation.get_language() or "ru"))


def percent(value: int) -> str:
    return f"{value} %"


def support() -> str:
    return escape(settings.SUPPORT_CONTACT)


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


def button_invite() -> str:
    return _("👥 Invite friends")


def button_language() -> str:
    return _("🌐 Language")


def button_trial(trial_days: int) -> str:
    return _("🎁 Free trial: %(days)s") % {"days": days(trial_days)}


def button_back() -> str:
    return _("« Back")


def button_devices() -> str:
    return _("📱 Devices")


def button_refresh() -> str:
    return _("🔄 Refresh")


def button_remove_device(number: int, device: Device) -> str:
    return _("🗑 Remove %(number)s. %(name)s") % {"number": number, "name": device_name(device)}


def button_menu() -> str:
    return _("« Menu")


def button_cancel() -> str:
    return _("✖️ Cancel")


def button_pay(amount: int) -> str:
    return _("Pay %(amount)s") % {"amount": stars(amount)}


def button_pay_from_balance(amount: int) -> str:
    return _("Pay %(amount)s from balance") % {"amount": stars(amount)}


def button_enter_promo() -> str:
    return _("🎟 Enter promo code")


def button_renew() -> str:
    return _("🔄 Renew")


def button_topup(amount: int) -> str:
    return _("Top up %(amount)s") % {"amount": stars(amount)}


def button_share() -> str:
    return _("📤 Share the link")


def button_tariff(quote: Quote, *, savings: int) -> str:
    if quote.tariff.renews_monthly:
        title_text = quote.tariff.title_for(translation.get_language() or "ru")
        return f"🔄 {title_text} — " + _("%(amount)s a month") % {"amount": stars(quote.amount)}
    label = f"{quote.tariff.title_for(translation.get_language() or 'ru')} — {stars(quote.amount)}"
    if savings:
        label += f" · {MINUS}{percent(savings)}"
    return label


def current_language() -> str:
    return translation.get_language() or "ru"


def button_option(option, *, extra: int) -> str:
    """An option in the plan builder, with what it adds to the price ("+81 ⭐"; nothing when included)."""
    label = option.title_for(current_language())
    return f"{label} · +{stars(extra)}" if extra else label


def builder_step(kind: str, *, tariff: Tariff) -> str:
    question = {
        DEVICES: _("How many devices?"),
        TRAFFIC: _("How much traffic?"),
        LOCATION: _("Which location?"),
    }[kind]
    return bold(_("Tariff: %(title)s") % {"title": tariff.title_for(current_language())}) + "\n\n" + question


def configuration_lines(snapshot: dict) -> str:
    """What the chosen configuration gives, from the quote's snapshot."""
    language = current_language()
    devices = snapshot_label(snapshot, DEVICES, language=language) or device_limit_text(snapshot.get("device_limit"))
    traffic = snapshot_label(snapshot, TRAFFIC, language=language) or traffic_limit_text(
        snapshot.get("traffic_limit_bytes") or 0
    )
    lines = [_("📱 Devices: %(devices)s") % {"devices": escape(devices)}]
    lines.append(_("📶 Traffic: %(traffic)s") % {"traffic": escape(traffic)})
    location = snapshot_label(snapshot, LOCATION, language=language)
    if location:
        lines.append(_("📍 Location: %(location)s") % {"location": escape(location)})
    return "\n".join(lines)


def location_line(location: dict) -> str:
    title = (location.get("title_ru") if current_language() == "ru" else "") or location.get("title") or ""
    return _("📍 Location: %(location)s") % {"location": escape(title)}


def button_change_location() -> str:
    return _("📍 Change location")


def location_prompt() -> str:
    return _("Choose a location. The change is free and takes effect within a minute; your link stays the same.")


def location_changed(title: str) -> str:
    return _("📍 Location changed to %(location)s.") % {"location": escape(title)}


# --- Menu -----------------------------------------------------------------------


def welcome(first_name: str = "") -> str:
    greeting = _("👋 Hello, %(name)s!") % {"name": first_name} if first_name else _("👋 Hello!")
    return (
        bold(greeting)
        + "\n"
        + _("Here you can buy a VPN subscription with Telegram Stars.")
        + "\n\n"
        + _("Choose an action:")
    )


def main_menu() -> str:
    return bold(_("Main menu")) + "\n" + _("Choose an action:")


def with_note(note: str, text: str) -> str:
    """A short note (already HTML) above a screen's text."""
    return f"{note}\n\n{text}" if note else text


def language_prompt() -> str:
    # Both languages at once: whoever cannot read the current one still finds the switch.
    return "🌐 <b>Выберите язык</b> · <b>Choose your language</b>"


def language_set() -> str:
    return _("✅ The bot now speaks English.")


# --- Promo codes ------------------------------------------------------------------


def promo_gives(promo: PromoCode) -> str:
    """What a promo code gives, in words."""
    if promo.discount_percent >= 100:
        return _("a free subscription")
    parts = []
    if promo.discount_percent:
        parts.append(_("%(percent)s off") % {"percent": f"{MINUS}{percent(promo.discount_percent)}"})
    if promo.bonus_days:
        parts.append(
            ngettext("+%(count)s bonus day", "+%(count)s bonus days", promo.bonus_days) % {"count": promo.bonus_days}
        )
    return _(" and ").join(parts) or _("nothing extra")


def promo_applied(promo: PromoCode) -> str:
    return _("✅ Promo code %(code)s applied: %(gives)s.") % {
        "code": bold(promo.code),
        "gives": escape(promo_gives(promo)),
    }


def promo_refused(reason: str) -> str:
    return _("%(reason)s Send another code or press Cancel.") % {"reason": escape(reason)}


def promo_prompt() -> str:
    return bold(_("🎟 Promo code")) + "\n" + _("Send the promo code as a message, or press Cancel.")


def promo_cancelled() -> str:
    return _("Promo code entry cancelled.")


# --- Buying ---------------------------------------------------------------------------


def tariff_list(*, promo_code: str) -> str:
    text = bold(_("🛒 Choose a tariff"))
    if promo_code:
        text += "\n" + _("Promo code %(code)s is applied.") % {"code": bold(promo_code)}
    return text


def renewing_price(amount: int) -> str:
    return _("%(amount)s a month, renews automatically") % {"amount": stars(amount)}


def tariff_line(quote: Quote, *, savings: int) -> str:
    if quote.tariff.renews_monthly:
        line = f"🔄 <b>{title(quote.tariff)}</b> — {renewing_price(quote.amount)}"
        if quote.bonus_days:
            line += " · " + ngettext(
                "+%(count)s bonus day in the first month", "+%(count)s bonus days in the first month", quote.bonus_days
            ) % {"count": quote.bonus_days}
        return line
    months = max(quote.tariff.months, 1)
    price = stars(quote.amount)
    if quote.discount:
        price = f"<s>{stars(quote.base_price)}</s> {price}"
    line = f"<b>{title(quote.tariff)}</b> — {price}"
    if months > 1:
        line += " · " + _("%(per_month)s per month") % {"per_month": stars(quote.amount // months)}
    if savings:
        line += f" · {MINUS}{percent(savings)}"
    if quote.bonus_days:
        line += " · " + ngettext("+%(count)s bonus day", "+%(count)s bonus days", quote.bonus_days) % {
            "count": quote.bonus_days
        }
    return line


def no_tariffs() -> str:
    return _("Nothing is on sale right now. Please come back later.")


def summary(quote: Quote, *, promo_note: str = "") -> str:
    lines = [bold(_("Tariff: %(title)s") % {"title": quote.tariff.title_for(translation.get_language() or "ru")})]
    if description(quote.tariff):
        lines.append(description(quote.tariff))
    lines.append("")
    if quote.tariff.renews_monthly:
        return _renewing_summary(quote, lines, promo_note=promo_note)
    lines.append(_("Price: %(price)s") % {"price": stars(quote.base_price)})
    if quote.discount:
        lines.append(_("Discount: %(discount)s") % {"discount": stars(quote.discount)})
    if quote.bonus_days:
        lines.append(_("Bonus days: %(bonus)s") % {"bonus": quote.bonus_days})
    lines.append(
        "<b>"
        + _("Total: %(amount)s for %(days)s") % {"amount": stars(quote.amount), "days": days(quote.total_days)}
        + "</b>"
    )
    if promo_note:
        lines.append(escape(promo_note))
    return "\n".join(lines)


def _renewing_summary(quote: Quote, lines: list[str], *, promo_note: str) -> str:
    lines.append("<b>" + renewing_price(quote.amount) + "</b>")
    if quote.bonus_days:
        lines.append(_("Bonus days in the first month: %(bonus)s") % {"bonus": quote.bonus_days})
    lines.append("")
    lines.append(
        _(
            "Telegram charges %(amount)s from your Stars every 30 days until you cancel. Cancel any time "
            "in My subscription: your VPN stays active to the end of the paid month."
        )
        % {"amount": stars(quote.amount)}
    )
    if promo_note:
        lines.append(escape(promo_note))
    return "\n".join(lines)


def button_subscribe(amount: int) -> str:
    return _("⭐ Subscribe: %(amount)s a month") % {"amount": stars(amount)}


def subscribe_link(amount: int) -> str:
    return (
        bold(_("🔄 Auto-renewing subscription"))
        + "\n"
        + _("Tap the button to subscribe: %(amount)s now and every 30 days until you cancel.")
        % {"amount": stars(amount)}
    )


def auto_renewal_started(*, amount: int, next_charge: datetime) -> str:
    return _("🔄 Auto-renewal is on: the next %(amount)s are charged on %(date)s. Cancel any time.") % {
        "amount": stars(amount),
        "date": bold(date(next_charge)),
    }


def renewed(*, days_added: int, expires_at: datetime | None, next_charge: datetime | None) -> str:
    lines = [bold(_("🔄 Subscription renewed: +%(days)s") % {"days": days(days_added)})]
    if expires_at is not None:
        lines.append(_("Your subscription is active until %(date)s.") % {"date": bold(date(expires_at))})
    if next_charge is not None:
        lines.append(_("Next automatic charge: %(date)s.") % {"date": bold(date(next_charge))})
    return "\n".join(lines)


def auto_renewal_status(*, renews: bool, amount: int, period_end: datetime) -> str:
    if renews:
        return _("🔄 Auto-renewal: on. Next charge of %(amount)s on %(date)s.") % {
            "amount": stars(amount),
            "date": bold(date(period_end)),
        }
    return _("⏸ Auto-renewal: off. Paid until %(date)s; after that the subscription ends.") % {
        "date": bold(date(period_end))
    }


def button_auto_renewal_cancel() -> str:
    return _("⏸ Cancel auto-renewal")


def button_auto_renewal_cancel_confirm() -> str:
    return _("Yes, cancel auto-renewal")


def button_auto_renewal_resume() -> str:
    return _("▶️ Resume auto-renewal")


def auto_renewal_cancel_question(*, period_end: datetime) -> str:
    return (
        bold(_("Cancel auto-renewal?"))
        + "\n"
        + _("Telegram will not charge you again. Your VPN stays active until %(date)s.")
        % {"date": bold(date(period_end))}
    )


def auto_renewal_canceled(*, period_end: datetime) -> str:
    return _("Auto-renewal canceled. Your VPN stays active until %(date)s.") % {"date": bold(date(period_end))}


def auto_renewal_resumed(*, period_end: datetime) -> str:
    return _("Auto-renewal is on again: the next charge is on %(date)s.") % {"date": bold(date(period_end))}


# What the payment confirmation says about the subscription link when it does not carry it.
LINK_COMING = "coming"  # provisioning is under way: the link follows in its own message
LINK_SENT = "sent"  # the worker sent it already
LINK_NONE = "none"  # no provisioning backend: there is no link


def paid_header() -> str:
    return bold(_("✅ Payment received, thank you!"))


def trial_header(trial_days: int) -> str:
    return bold(_("🎁 Your free trial is on: %(days)s.") % {"days": days(trial_days)})


def link_note(link: str, *, expires_at: datetime | None) -> str:
    lines = []
    if expires_at is not None:
        lines.append(_("Your subscription is active until %(date)s.") % {"date": bold(date(expires_at))})
    if link == LINK_SENT:
        lines.append(_("We have sent you the connection details in a separate message."))
    elif link == LINK_NONE:
        lines.append(no_links())
    else:
        lines.append(_("Your connection link is being prepared; it will arrive in a separate message in a moment."))
    return "\n".join(lines)


def no_links() -> str:
    return _(
        "This shop does not hand out connection links automatically: write to %(contact)s and support will connect you."
    ) % {"contact": support()}


def topped_up(*, amount: int, balance: int) -> str:
    return (
        bold(_("✅ Balance topped up"))
        + "\n"
        + _("Your balance has been topped up by %(amount)s. Balance: %(balance)s.")
        % {"amount": stars(amount), "balance": stars(balance)}
    )


def payment_needs_review() -> str:
    return _("We received your payment, but it needs a manual check. Support will contact you: %(contact)s") % {
        "contact": support()
    }


def refunded(*, amount: int) -> str:
    return _("A refund of %(amount)s has been processed.") % {"amount": stars(amount)}


# --- My subscription -----------------------------------------------------------------


def subscription_status(subscription: SubscriptionView) -> str:
    title_line = bold(_("📅 My subscription"))
    if subscription.expires_at is None:
        return title_line + "\n" + _("You have no subscription yet.")
    if subscription.status == "disabled":
        status = _("⛔ disabled")
    elif subscription.is_active:
        status = _("✅ active")
    else:
        status = _("⌛ expired")
    lines = [title_line, _("Status: %(status)s") % {"status": status}]
    if subscription.is_active:
        lines.append(
            _("Active until %(date)s (%(left)s left)")
            % {"date": bold(date(subscription.expires_at)), "left": days(subscription.days_left)}
        )
    else:
        lines.append(_("Ended on %(date)s.") % {"date": bold(date(subscription.expires_at))})
    return "\n".join(lines)


def traffic_amount(value: int) -> str:
    """Bytes as a buyer reads them: MB below a gigabyte, GB with at most one decimal (none from 100 GB)."""
    gigabytes = value / 2**30
    if gigabytes < 1:
        return _("%(value)s MB") % {"value": format_number(round(value / 2**20))}
    rounded = round(gigabytes, 1 if gigabytes < 100 else 0)
    decimals = 0 if rounded == int(rounded) else 1
    number = formats.number_format(rounded, decimal_pos=decimals, use_l10n=True)
    return _("%(value)s GB") % {"value": number}


def traffic_line(traffic: Traffic) -> str:
    used = traffic_amount(traffic.used_bytes)
    if not traffic.limit_bytes:
        return _("📊 Traffic: %(used)s (unlimited)") % {"used": used}
    line = _("📊 Traffic: %(used)s of %(limit)s") % {"used": used, "limit": traffic_amount(traffic.limit_bytes)}
    if traffic.next_reset_at is not None:
        line += " · " + _("resets on %(date)s") % {"date": date(traffic.next_reset_at)}
    return line


def subscription_link_coming() -> str:
    return _("Your connection link is being prepared; we will send it in a separate message in a moment.")


def renew_hint() -> str:
    return _("Renew it to connect again.")


# --- Devices ------------------------------------------------------------------------


def device_name(device: Device) -> str:
    return device.model or device.platform or _("Unknown device")


def devices_used(listing: DeviceList) -> str:
    limit = listing.limit
    if limit.kind == device_states.LIMIT_LIMITED:
        return _("Used: %(used)s of %(limit)s.") % {"used": listing.used, "limit": limit.count}
    if limit.kind == device_states.LIMIT_UNLIMITED:
        return _("Devices: %(used)s (no limit).") % {"used": listing.used}
    return _("Devices: %(used)s (limit: the panel's default).") % {"used": listing.used}


def device_line(number: int, device: Device) -> str:
    details = " ".join(part for part in (device.platform, device.os_version) if part)
    name = device_name(device)
    line = f"{number}. <b>{escape(name)}</b>"
    if details and details != name:
        line += f" — {escape(details)}"
    seen = []
    if device.first_seen is not None:
        seen.append(_("first seen %(date)s") % {"date": date(device.first_seen)})
    if device.last_seen is not None:
        seen.append(_("last seen %(date)s") % {"date": date(device.last_seen)})
    if seen:
        line += "\n    " + ", ".join(seen)
    return line


def devices_screen(listing: DeviceList) -> str:
    title_line = bold(_("📱 Devices"))
    if listing.state == device_states.NO_PANEL:
        return title_line + "\n" + _("This shop does not manage VPN devices, so there is no device list here.")
    if listing.state == device_states.NOT_PROVISIONED:
        return (
            title_line + "\n" + _("No devices yet. A device appears here once it connects with your subscription link.")
        )
    if listing.state == device_states.UNAVAILABLE:
        return title_line + "\n" + panel_not_answering()
    lines = [title_line, devices_used(listing), ""]
    if listing.devices:
        lines += [device_line(number, device) for number, device in enumerate(listing.devices, start=1)]
        lines += ["", _("Remove a device you no longer use to make room for a new one.")]
    else:
        lines.append(_("No devices yet. A device appears here once it connects with your subscription link."))
    if listing.state == device_states.STALE:
        lines += ["", _("⚠️ The VPN panel is not answering right now: this is the last known list.")]
    return "\n".join(lines)


def panel_not_answering() -> str:
    return _("⚠️ The VPN panel is not answering right now. Please try again in a minute.")


def device_removed() -> str:
    return _("✅ Device removed. It can connect again later while you are within the limit.")


def device_already_gone() -> str:
    return _("This device is no longer in your list.")


def device_not_removed() -> str:
    return _("⚠️ The VPN panel is not answering, so the device was not removed. Please try again in a minute.")


# --- Balance ------------------------------------------------------------------------


def balance(amount: int) -> str:
    return (
        bold(_("💰 Balance"))
        + "\n"
        + _("Your balance: %(balance)s.\nTop it up with Stars and pay for tariffs from it.")
        % {"balance": stars(amount)}
    )


# --- Referrals ------------------------------------------------------------------------


def referral_screen(*, link: str, stats: ReferralStats, bonus_days: int) -> str:
    lines = [bold(_("👥 Invite friends"))]
    if bonus_days:
        lines.append(
            ngettext(
                "Share your link. When someone you invited makes their first purchase, you get +%(count)s day of VPN.",
                "Share your link. When someone you invited makes their first purchase, you get +%(count)s days of VPN.",
                bonus_days,
            )
            % {"count": bonus_days}
        )
    else:
        lines.append(_("Share your link with friends who need a VPN."))
    lines += [
        "",
        _("Your link:"),
        f"<code>{escape(link)}</code>",
        "",
        _("Invited: %(count)s") % {"count": format_number(stats.invited)},
        _("Made a purchase: %(count)s") % {"count": format_number(stats.paid)},
        _("Bonus earned: %(days)s") % {"days": days(stats.bonus_days)},
    ]
    return "\n".join(lines)


def referral_share_text() -> str:
    return _("A fast VPN paid with Telegram Stars: try it with my link")


def referral_welcome() -> str:
    return _("🤝 You came with an invitation from a friend: welcome!")


def referral_own_link() -> str:
    return _("This is your own invitation link: share it with friends.")


def referral_unknown() -> str:
    return _("This invitation link is not valid, but you are welcome all the same.")


# --- The channel gate ----------------------------------------------------------------


def button_join_channel() -> str:
    return _("📢 Join the channel")


def button_channel_check() -> str:
    return _("✅ I've joined")


def channel_gate_trial() -> str:
    return _("📢 To get the free trial, join our channel (the button below), then tap «✅ I've joined».")


def channel_gate_all() -> str:
    return _("📢 To use the bot, join our channel (the button below), then tap «✅ I've joined».")


def channel_not_joined() -> str:
    return _("We don't see you in the channel yet. Join it and tap «✅ I've joined» again.")


def channel_joined() -> str:
    return _("✅ Thank you for joining the channel!")


# --- Help and legal ---------------------------------------------------------------


def help_text() -> str:
    return (
        bold(_("❓ Help"))
        + "\n"
        + _(
            "/start — main menu\n"
            "/buy — buy a subscription\n"
            "/language — change the language\n"
            "/paysupport — help with payments\n"
            "/terms — terms of service\n"
            "/privacy — privacy policy\n"
            "Support: %(contact)s"
        )
        % {"contact": support()}
    )


def paysupport() -> str:
    if settings.PAYSUPPORT_TEXT:
        return escape(settings.PAYSUPPORT_TEXT)
    return _(
        "Payment problems? Write to %(contact)s with the date and amount of the payment. "
        "Refunds are made in Telegram Stars."
    ) % {"contact": support()}


def terms() -> str:
    if settings.TERMS_TEXT:
        return escape(settings.TERMS_TEXT)
    return _(
        "Terms of service: you buy access to a VPN service for the paid period. Payments are made in Telegram Stars. "
        "Unused paid periods can be refunded on request to %(contact)s."
    ) % {"contact": support()}


def privacy() -> str:
    if settings.PRIVACY_TEXT:
        return escape(settings.PRIVACY_TEXT)
    return _(
        "Privacy policy: we store your Telegram id, name, language and payment history only to provide the service. "
        "We do not log your traffic. Questions: %(contact)s"
    ) % {"contact": support()}


def account_deactivated() -> str:
    return _(
        "Your account in this shop is deactivated: buying, the balance and your subscription's screens are "
        "unavailable. To ask why, write to %(contact)s."
    ) % {"contact": support()}


def apology() -> str:
    return _("Sorry, something went wrong. Please try again in a minute.")


def slow_down() -> str:
    return _("Too many messages. Please slow down and try again in a few seconds.")


def commands() -> list[tuple[str, str]]:
    """The bot's command menu (setMyCommands)."""
    return [
        ("start", _("Main menu")),
        ("buy", _("Buy a subscription")),
        ("language", _("Change the language")),
        ("paysupport", _("Help with payments")),
        ("terms", _("Terms of service")),
        ("privacy", _("Privacy policy")),
        ("help", _("Help")),
    ]
