"""The owner's commands in the bot: /stats (the dashboard's cards for today and the last 7 days)
and /find <Telegram id or @username> (a buyer's subscription, payments and balance). They read,
never move money (refunds stay in the admin, behind its confirmation).

Only staff may use them: an active staff account whose Telegram id (the admin's user page,
"Telegram" section) is the sender's, with the permission the admin asks for the same pages.
Anyone else gets what any unknown command gets: the help."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.formatting import format_date, format_number, format_stars
from notifications.owner_texts import admin_link
from payments.dashboard import Kpi
from payments.owner_reports import BuyerCard, OwnerStats, buyer_find, owner_stats
from telegram_bot import keyboards, texts
from telegram_bot.screens import Reply, Say, screen
from users.models import User

# The dashboard's page and the payments list ask for this; the buyers' pages for users.view_user.
STATS_PERMISSIONS = ("payments.view_payment",)
FIND_PERMISSIONS = ("payments.view_payment", "users.view_user")


def staff_may(user: User, permissions: tuple[str, ...]) -> bool:
    return user.is_active and user.is_staff and user.has_perms(permissions)


def _unknown_command() -> list[Reply]:
    """What the bot answers any command it does not know (the help screen's reply)."""
    return [Say(texts.help_text(), keyboards.back_to_menu())]


# --- Texts -----------------------------------------------------------------------------------------


def _value(card: Kpi) -> str:
    if card.current is None:
        return "—"
    return f"{card.current_text} {escape(str(card.unit_label))}"


def stats_text(stats: OwnerStats) -> str:
    week = {card.key: card for card in stats.week}
    lines = [texts.bold(_("📊 Today · last 7 days")), _("In brackets: the change against the 7 days before.")]
    for today in stats.today:
        line = f"{escape(str(today.title))}: <b>{_value(today)}</b>"
        seven = week.get(today.key)
        if seven is not None and seven.compare:
            line += f" · {_value(seven)}"
            if seven.change_text:
                line += f" ({seven.change_text})"
        lines.append(line)
    lines.append(_("Payments to review: %(count)s") % {"count": format_number(stats.open_reviews)})
    return "\n".join(lines)


def _subscription_line(card: BuyerCard) -> str:
    view = card.subscription
    if view.expires_at is None:
        return _("Subscription: none")
    if view.status == "disabled":
        return _("Subscription: disabled (until %(date)s)") % {"date": format_date(view.expires_at)}
    if view.is_active:
        return _("Subscription: active until %(date)s") % {"date": format_date(view.expires_at)}
    return _("Subscription: ended on %(date)s") % {"date": format_date(view.expires_at)}


def buyer_text(card: BuyerCard) -> str:
    user = card.user
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    header = f"👤 {escape(str(user))}" + (f" — {escape(name)}" if name else "")
    lines = [
        f"<b>{header}</b>",
        _subscription_line(card),
        _("Balance: %(stars)s") % {"stars": format_stars(user.stars_balance)},
    ]
    if not user.is_active:
        lines.append(_("⛔ Deactivated in the admin."))
    if card.payments:
        lines.append(
            ngettext("Payments (%(count)s in all), newest:", "Payments (%(count)s in all), newest:", card.payment_count)
            % {"count": format_number(card.payment_count)}
        )
        for payment in card.payments:
            what = escape(payment.tariff.title) if payment.tariff_id else escape(payment.get_kind_display())
            lines.append(
                f"• {format_date(payment.created_at)} — {what}, {format_stars(payment.amount)}, "
                f"{escape(payment.get_status_display())}"
            )
    else:
        lines.append(_("No payments."))
    link = admin_link(card.admin_path)
    if link:
        lines.append(link)
    return "\n".join(lines)


# --- Screens ---------------------------------------------------------------------------------------


@screen
def stats(user: User) -> list[Reply]:
    if not staff_may(user, STATS_PERMISSIONS):
        return _unknown_command()
    return [Say(stats_text(owner_stats()))]


@screen
def find(user: User, term: str = "") -> list[Reply]:
    if not staff_may(user, FIND_PERMISSIONS):
        return _unknown_command()
    term = term.strip()
    if not term:
        return [Say(_("Write /find and a Telegram id or @username, e.g. /find 123456789 or /find @alice."))]
    card = buyer_find(term)
    if card is None:
        return [Say(_("No one found as “%(term)s”: give the exact Telegram id or @username.") % {"term": escape(term)})]
    return [Say(buyer_text(card))]
