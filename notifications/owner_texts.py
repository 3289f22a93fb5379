"""What the owner's chat reads: alerts and the daily summary, rendered from the plain values the
services recorded, in the admin's language (DJANGO_LANGUAGE_CODE: Russian unless set).

Links point at the admin page concerned, absolute from SHOP_BASE_URL (no base URL: no links)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.utils import formats, translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.formatting import format_number, format_stars
from notifications.models import AlertKind

LINES_SHOWN = 10  # a grouped message lists this many alerts, then says how many more


def admin_link(path: str, label: str = "") -> str:
    """An HTML link to an admin page (a path from reverse()), or nothing without SHOP_BASE_URL."""
    base = settings.SHOP_BASE_URL.rstrip("/")
    if not base or not path:
        return ""
    label = label or _("open in the admin")
    return f'<a href="{escape(base + path)}">{escape(label)}</a>'


def _with_link(text: str, details: dict[str, Any], label: str = "") -> str:
    link = admin_link(details.get("path", ""), label)
    return f"{text} · {link}" if link else text


def _signed(value: int) -> str:
    return f"+{format_number(value)}" if value > 0 else f"−{format_number(-value)}" if value < 0 else "0"


# --- One line per alert ---------------------------------------------------------------------------


def _purchase(details: dict) -> str:
    if details.get("topup"):
        what = _("balance top-up")
    else:
        what = "«" + escape(details.get("tariff") or "—") + "»"
    text = f"{escape(details.get('buyer', ''))} — {what}, {format_stars(details.get('amount', 0))}"
    if details.get("method") == "balance":
        text += " " + _("(from the balance)")
    if details.get("renewal"):
        text += " " + _("(automatic renewal)")
    return _with_link(text, details)


def _refund(details: dict) -> str:
    by = {"admin": _("by an admin"), "telegram": _("in Telegram")}.get(details.get("by", ""), "")
    text = f"{escape(details.get('buyer', ''))} — {format_stars(details.get('amount', 0))}"
    if by:
        text += f", {by}"
    if details.get("reason"):
        text += f": {escape(details['reason'])}"
    return _with_link(text, details)


def _review(details: dict) -> str:
    buyer, reason = escape(details.get("buyer", "")), escape(details.get("reason", ""))
    text = f"{buyer} — {format_stars(details.get('amount', 0))}: {reason}"
    return _with_link(text, details)


def _panel(event: str, details: dict) -> str:
    if event == "problem":
        text = _("🔧 The panel refuses the shop's configuration: %(problem)s") % {
            "problem": escape(details.get("message", ""))
        }
    elif event == "resolved":
        text = _("✅ Fixed in the panel: %(problem)s") % {"problem": escape(details.get("message", ""))}
    elif event == "down":
        text = _("🔴 The panel does not answer: %(error)s") % {"error": escape(details.get("error", ""))}
    else:
        text = _("🟢 The panel answers again.")
    return _with_link(text, details)


def _outbox(event: str, details: dict) -> str:
    if event == "stuck":
        text = _("⏳ Provisioning is stuck: %(due)s tasks due, the oldest waits %(minutes)s min.") % {
            "due": format_number(details.get("due", 0)),
            "minutes": format_number(details.get("minutes", 0)),
        }
    else:
        text = _("✅ Provisioning runs again.")
    return _with_link(text, details)


def _bot(event: str, details: dict) -> str:
    if event == "silent":
        if details.get("minutes") is None:
            return _("🔇 The bot has not fetched updates yet: buyers get no answers. Is `runbot` running?")
        return _("🔇 The bot has fetched no updates for %(minutes)s min: buyers get no answers.") % {
            "minutes": format_number(details["minutes"])
        }
    return _("🔊 The bot fetches updates again.")


def _star_balance(details: dict) -> str:
    return _("💫 The bot's Star balance is %(balance)s, below %(threshold)s.") % {
        "balance": format_stars(details.get("balance", 0)),
        "threshold": format_stars(details.get("threshold", 0)),
    }


def _broadcast(details: dict) -> str:
    text = _("📣 Broadcast “%(name)s” finished: %(sent)s of %(total)s delivered, %(failed)s not.") % {
        "name": escape(details.get("name", "")),
        "sent": format_number(details.get("sent", 0)),
        "total": format_number(details.get("total", 0)),
        "failed": format_number(details.get("failed", 0)),
    }
    return _with_link(text, details)


def alert_line(kind: str, event: str, details: dict) -> str:
    lines: dict[str, Callable[[], str]] = {
        AlertKind.PURCHASE: lambda: _purchase(details),
        AlertKind.REFUND: lambda: _refund(details),
        AlertKind.REVIEW: lambda: _review(details),
        AlertKind.PANEL: lambda: _panel(event, details),
        AlertKind.OUTBOX: lambda: _outbox(event, details),
        AlertKind.BOT: lambda: _bot(event, details),
        AlertKind.STAR_BALANCE: lambda: _star_balance(details),
        AlertKind.BROADCAST: lambda: _broadcast(details),
        AlertKind.SUMMARY: lambda: daily_summary(details),
    }
    return lines[kind]() if kind in lines else escape(f"{kind}: {event}")


# --- A message: one alert, or a group --------------------------------------------------------------


def _minutes(alerts: list[dict], now: datetime) -> int:
    return max(math.ceil((now - alerts[0]["created_at"]).total_seconds() / 60), 1)


def _in_minutes(minutes: int) -> str:
    return ngettext("in %(minutes)s minute", "in %(minutes)s minutes", minutes) % {"minutes": format_number(minutes)}


def _header(kind: str, alerts: list[dict], now: datetime) -> str:
    """The first line of a message about several alerts of a kind that counts (purchases,
    refunds, reviews): how many, in how long, for how many Stars."""
    count = len(alerts)
    stars = format_stars(sum(int(alert["details"].get("amount", 0)) for alert in alerts))
    values = {"count": format_number(count), "in_minutes": _in_minutes(_minutes(alerts, now)), "stars": stars}
    if kind == AlertKind.PURCHASE:
        text = ngettext(
            "🛒 %(count)s purchase %(in_minutes)s: %(stars)s",
            "🛒 %(count)s purchases %(in_minutes)s: %(stars)s",
            count,
        )
    elif kind == AlertKind.REFUND:
        text = ngettext(
            "↩️ %(count)s refund %(in_minutes)s: %(stars)s", "↩️ %(count)s refunds %(in_minutes)s: %(stars)s", count
        )
    else:
        text = ngettext(
            "⚠️ %(count)s payment needs review (%(in_minutes)s)",
            "⚠️ %(count)s payments need review (%(in_minutes)s)",
            count,
        )
    return f"<b>{text % values}</b>"


SINGLE_HEADERS = {
    AlertKind.PURCHASE: lambda: _("🛒 New purchase"),
    AlertKind.REFUND: lambda: _("↩️ Refund"),
    AlertKind.REVIEW: lambda: _("⚠️ A payment needs review"),
}


def render_message(*, kind: str, alerts: list[dict], now: datetime) -> str:
    """The text of one message to the owner: `alerts` are dicts with event, details and
    created_at, oldest first."""
    with translation.override(settings.LANGUAGE_CODE):
        shown = alerts[-LINES_SHOWN:]
        lines = [alert_line(kind, alert["event"], alert["details"]) for alert in shown]
        if len(alerts) > len(shown):
            more = len(alerts) - len(shown)
            lines.insert(0, ngettext("… and %(count)s earlier", "… and %(count)s earlier", more) % {"count": more})
        if kind in SINGLE_HEADERS:
            header = f"<b>{SINGLE_HEADERS[kind]()}</b>" if len(alerts) == 1 else _header(kind, alerts, now)
            lines.insert(0, header)
        return "\n".join(lines)


# --- The daily summary -------------------------------------------------------------------------------

# The figures of a day, in the order the summary lists them: (key, label, is Stars).
SUMMARY_ROWS: list[tuple[str, Callable[[], str], bool]] = [
    ("net_revenue", lambda: _("Revenue"), True),
    ("new_buyers", lambda: _("New buyers"), False),
    ("returning_buyers", lambda: _("Returning buyers"), False),
    ("renewed", lambda: _("Renewals"), False),
    ("auto_renewals", lambda: _("Automatic renewals"), False),
    ("cancellations", lambda: _("Auto-renewal cancellations"), False),
    ("lapsed", lambda: _("Lapsed (not renewed)"), False),
    ("refunds", lambda: _("Refunds"), False),
    ("trials_started", lambda: _("Free trials"), False),
    ("trials_converted", lambda: _("of them paid"), False),
]


def _day(value: str) -> str:
    day = date.fromisoformat(value)
    russian = translation.get_language() == "ru"
    weekday = formats.date_format(day, "l")
    # Russian writes weekdays in lower case ("понедельник, 7 декабря 2026").
    return f"{weekday.lower() if russian else weekday}, {formats.date_format(day, 'j E Y' if russian else 'j F Y')}"


def daily_summary(details: dict) -> str:
    """Yesterday's figures, each next to the same weekday a week before, and the open reviews.
    `details`: day and week_before (ISO dates), figures and previous (key -> int), open_reviews, path."""
    figures, previous = details.get("figures", {}), details.get("previous", {})
    title = _("📊 Summary of %(day)s") % {"day": escape(_day(details["day"]))}
    lines = [f"<b>{title}</b>"]
    lines.append(_("In brackets: the same weekday a week before (%(day)s).") % {"day": _day(details["week_before"])})
    for key, label, is_stars in SUMMARY_ROWS:
        if key not in figures:
            continue
        value, before = int(figures[key]), int(previous.get(key, 0))
        shown = format_stars(value) if is_stars else format_number(value)
        lines.append(f"{escape(label())}: <b>{shown}</b> ({format_number(before)}, {_signed(value - before)})")
    if "refunded_stars" in figures and figures["refunded_stars"]:
        lines.append(_("Refunded: %(stars)s") % {"stars": format_stars(int(figures["refunded_stars"]))})
    lines.append(_("Payments to review now: %(count)s") % {"count": format_number(details.get("open_reviews", 0))})
    link = admin_link(details.get("path", ""), _("the dashboard for that day"))
    if link:
        lines.append(link)
    return "\n".join(lines)
