"""What the shop says on its own: each function takes plain values and returns
a Notice (HTML text and buttons) in the given language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from integrations.telegram import Button

# Callback data the bot's door answers (its main-menu "Buy" screen).
BUY_CALLBACK = "buy"

REMINDER_3_DAYS = "3d"
REMINDER_1_DAY = "1d"
REMINDER_EXPIRED = "expired"


@dataclass(frozen=True)
class Notice:
    text: str  # HTML (Telegram's parse_mode=HTML): dynamic values are escaped
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)


def format_date(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def link_ready(*, language: str, url: str) -> Notice:
    with translation.override(language):
        text = _("Your VPN subscription is ready.\n\nAdd this link to your VPN app:\n%(url)s") % {
            "url": f"<code>{escape(url)}</code>"
        }
        return Notice(text=text, buttons=((Button(text=_("🔗 Connect"), url=url),),))


def expiry_reminder(*, kind: str, language: str, expires_at: datetime) -> Notice:
    with translation.override(language):
        date = escape(format_date(expires_at))
        if kind == REMINDER_3_DAYS:
            text = _("Your VPN subscription ends in 3 days (%(date)s). Renew it to stay connected.") % {"date": date}
        elif kind == REMINDER_1_DAY:
            text = _("Your VPN subscription ends tomorrow (%(date)s). Renew it to stay connected.") % {"date": date}
        else:
            text = _("Your VPN subscription has expired. Renew it to connect again.")
        return Notice(text=text, buttons=((Button(text=_("Renew"), callback_data=BUY_CALLBACK),),))
