"""What the shop says on its own, and the connect screen the bot shows too:
each function takes plain values and returns a Notice (HTML text and buttons)
in the given language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from integrations.telegram import Button
from notifications.formatting import format_date

# Callback data the bot's door answers; notices carry these buttons too.
MENU_CALLBACK = "menu"
BUY_CALLBACK = "buy"
SUBSCRIPTION_CALLBACK = "sub"
CONNECT_CALLBACK = "conn"  # the connect screen again
APPS_CALLBACK = "apps:"  # apps:<platform> — the apps for one platform
QR_CALLBACK = "qr"  # the subscription link as a QR code (a photo)

REMINDER_3_DAYS = "3d"
REMINDER_1_DAY = "1d"
REMINDER_EXPIRED = "expired"

# The platforms of the connect screen, in this order (names are not translated).
PLATFORMS = {
    "ios": "🍏 iOS",
    "android": "🤖 Android",
    "windows": "🪟 Windows",
    "macos": "💻 macOS",
    "linux": "🐧 Linux",
}


@dataclass(frozen=True)
class AppLink:
    """A client app button: its name and an https page (store or download page)."""

    name: str
    url: str


Rows = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Notice:
    text: str  # HTML (Telegram's parse_mode=HTML): dynamic values are escaped
    buttons: Rows = field(default_factory=tuple)

    def with_rows(self, *rows: Sequence[Button]) -> Notice:
        return Notice(text=self.text, buttons=(*self.buttons, *(tuple(row) for row in rows)))


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


# --- The connect screen -------------------------------------------------------------


def _platform_rows(apps: Mapping[str, Sequence[AppLink]]) -> Rows:
    buttons = [
        Button(text=label, callback_data=APPS_CALLBACK + key) for key, label in PLATFORMS.items() if apps.get(key)
    ]
    return tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))


def _app_rows(apps: Sequence[AppLink]) -> Rows:
    buttons = [Button(text=app.name, url=app.url) for app in apps]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


def connect_screen(
    *,
    language: str,
    url: str,
    apps: Mapping[str, Sequence[AppLink]],
    expires_at: datetime | None = None,
    platform: str = "",
    header: str = "",
) -> Notice:
    """How to connect: the subscription page behind a 🔗 button, the link to copy,
    the client apps per platform (or, with `platform`, that platform's apps) and a
    QR code on request. `header` (HTML) goes first."""
    with translation.override(language):
        parts = [header] if header else []
        body = [bold(_("🔐 Connecting"))]
        if expires_at is not None:
            body.append(_("Active until %(date)s.") % {"date": bold(format_date(expires_at))})
        body.append("")
        if apps:
            body.append(_("1. Install an app for your device: choose your platform below."))
            body.append(_("2. Press “🔗 Connect”: the subscription page opens and adds the subscription to the app."))
        else:
            body.append(_("Press “🔗 Connect”: the subscription page opens and adds the subscription to your VPN app."))
        body.append(_("Or copy the link and add it in the app by hand:"))
        body.append(f"<code>{escape(url)}</code>")
        parts.append("\n".join(body))
        connect_row = (Button(text=_("🔗 Connect"), url=url),)
        chosen = apps.get(platform) if platform else None
        if chosen:
            parts.append(
                _("%(platform)s apps: install one, then come back and press “🔗 Connect”.")
                % {"platform": bold(PLATFORMS.get(platform, platform))}
            )
            rows = (*_app_rows(chosen), connect_row, (Button(text=_("« Back"), callback_data=CONNECT_CALLBACK),))
        else:
            rows = (connect_row, *_platform_rows(apps), (Button(text=_("🔳 QR code"), callback_data=QR_CALLBACK),))
        return Notice(text="\n\n".join(parts), buttons=rows)


def qr_caption(*, language: str) -> str:
    with translation.override(language):
        return _("Scan this code with the VPN app on another device to add your subscription.")


def link_ready(
    *, language: str, url: str, apps: Mapping[str, Sequence[AppLink]], expires_at: datetime | None
) -> Notice:
    """The purchase's link message when the payment confirmation could not carry it."""
    with translation.override(language):
        header = bold(_("🎉 Your VPN subscription is ready."))
        notice = connect_screen(language=language, url=url, apps=apps, expires_at=expires_at, header=header)
        return notice.with_rows((Button(text=_("« Menu"), callback_data=MENU_CALLBACK),))


def referral_bonus(*, language: str, days: int, expires_at: datetime | None) -> Notice:
    """The referrer's note: an invited friend paid, bonus days were added."""
    with translation.override(language):
        text = bold(
            ngettext(
                "🎁 +%(days)s day for your friend's purchase!",
                "🎁 +%(days)s days for your friend's purchase!",
                days,
            )
            % {"days": days}
        )
        text += "\n" + _("Someone you invited made their first purchase, so we extended your subscription.")
        if expires_at is not None:
            text += "\n" + _("Active until %(date)s.") % {"date": bold(format_date(expires_at))}
        return Notice(
            text=text, buttons=((Button(text=_("📅 My subscription"), callback_data=SUBSCRIPTION_CALLBACK),),)
        )


def expiry_reminder(*, kind: str, language: str, expires_at: datetime, renews: bool = False) -> Notice:
    """`renews`: a Telegram Star subscription renews it, so it does not end unless the buyer
    cancels or has too few Stars; the reminder says when it renews instead."""
    with translation.override(language):
        date = bold(format_date(expires_at))
        if renews and kind != REMINDER_EXPIRED:
            text = _(
                "Your VPN subscription renews automatically on %(date)s: Telegram charges your Stars, "
                "nothing to do. Keep enough Stars in Telegram, or cancel auto-renewal in My subscription."
            ) % {"date": date}
            return Notice(
                text=text, buttons=((Button(text=_("📅 My subscription"), callback_data=SUBSCRIPTION_CALLBACK),),)
            )
        if kind == REMINDER_3_DAYS:
            text = _("Your VPN subscription ends in 3 days (%(date)s). Renew it to stay connected.") % {"date": date}
        elif kind == REMINDER_1_DAY:
            text = _("Your VPN subscription ends tomorrow (%(date)s). Renew it to stay connected.") % {"date": date}
        else:
            text = _("Your VPN subscription has expired. Renew it to connect again.")
        return Notice(text=text, buttons=((Button(text=_("Renew"), callback_data=BUY_CALLBACK),),))


def auto_renewal_off_after_failed_refund(*, language: str, paid_until: datetime) -> Notice:
    """A refund canceled the auto-renewal first, then Telegram refused the refund and would
    not turn the auto-renewal back on: the buyer learns it is off and nothing was refunded."""
    with translation.override(language):
        text = bold(_("⏸ Auto-renewal is off"))
        text += "\n" + _(
            "We turned off the auto-renewal of your VPN subscription to refund your payment, but Telegram "
            "did not make the refund, so no Stars were returned yet. We will look into it."
        )
        text += "\n" + _(
            "Your VPN stays active until %(date)s. You can turn auto-renewal back on in My subscription."
        ) % {"date": bold(format_date(paid_until))}
        return Notice(
            text=text, buttons=((Button(text=_("📅 My subscription"), callback_data=SUBSCRIPTION_CALLBACK),),)
        )


# --- Broadcasts ---------------------------------------------------------------------

BROADCAST_BUY = "buy"
BROADCAST_RENEW = "renew"
BROADCAST_URL = "url"


def broadcast(*, language: str, text: str, button: str = "", button_url: str = "", button_text: str = "") -> Notice:
    """A message an admin wrote (HTML, sent as written: the admin's own words) with its optional
    button: Buy or Renew labelled in the recipient's language (both open the bot's tariffs, where a
    renewal is bought), or a link with the admin's label."""
    with translation.override(language):
        if button == BROADCAST_BUY:
            rows: Rows = ((Button(text=_("🛒 Buy"), callback_data=BUY_CALLBACK),),)
        elif button == BROADCAST_RENEW:
            rows = ((Button(text=_("🔄 Renew"), callback_data=BUY_CALLBACK),),)
        elif button == BROADCAST_URL:
            rows = ((Button(text=button_text, url=button_url),),)
        else:
            rows = ()
        return Notice(text=text, buttons=rows)
